/// The result state of a health check, with the Nagios plugin exit code of each state.
///
/// This is the vocabulary every output shares: the table, health+json, the Nagios line, metrics.
public enum CheckState: String, Sendable, CaseIterable, Comparable, Codable {
    case ok, warn, crit, unknown

    /// The Nagios plugin exit code: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN.
    public var exitCode: Int32 {
        switch self {
        case .ok: 0
        case .warn: 1
        case .crit: 2
        case .unknown: 3
        }
    }

    /// The state for a plugin's exit code; anything outside 0–3 is UNKNOWN, as the guidelines say.
    public init(exitCode: Int32) {
        switch exitCode {
        case 0: self = .ok
        case 1: self = .warn
        case 2: self = .crit
        default: self = .unknown
        }
    }

    /// The word of a Nagios status line: OK, WARNING, CRITICAL, UNKNOWN.
    public var nagiosWord: String {
        switch self {
        case .ok: "OK"
        case .warn: "WARNING"
        case .crit: "CRITICAL"
        case .unknown: "UNKNOWN"
        }
    }

    /// The `application/health+json` status: pass, warn or fail (UNKNOWN fails: nobody knows it is fine).
    public var healthStatus: String {
        switch self {
        case .ok: "pass"
        case .warn: "warn"
        case .crit, .unknown: "fail"
        }
    }

    /// How bad the state is: OK < UNKNOWN < WARNING < CRITICAL, the order of monitoring-plugins'
    /// `max_state_alt`. It is not the exit code's order (UNKNOWN is 3): many Nagios and Icinga
    /// setups do not page on UNKNOWN, so one check that could not be measured must never hide a
    /// CRITICAL one, nor a WARNING.
    public var severity: Int {
        switch self {
        case .ok: 0
        case .unknown: 1
        case .warn: 2
        case .crit: 3
        }
    }

    /// Worse states sort later (by `severity`), so `max()` of several states is the worse one.
    public static func < (lhs: CheckState, rhs: CheckState) -> Bool {
        lhs.severity < rhs.severity
    }

    /// The overall state of several checks, the one every output and exit code shows (the table,
    /// the Nagios line, health+json, `/healthz`, `opsctl health` with or without opsd): the worst
    /// by `severity`, so CRITICAL outranks WARNING, and WARNING outranks UNKNOWN; OK when there
    /// are none.
    public static func overall(_ states: some Sequence<CheckState>) -> CheckState {
        states.max() ?? .ok
    }

    /// The `application/health+json` status of several checks: the worst of their `healthStatus`
    /// (fail > warn > pass). A document cannot say UNKNOWN, and an UNKNOWN check fails on its own,
    /// so a WARNING beside it must not turn the answer into a passing one.
    public static func healthStatus(_ states: some Sequence<CheckState>) -> String {
        let statuses = Set(states.map(\.healthStatus))
        return statuses.contains("fail") ? "fail" : statuses.contains("warn") ? "warn" : "pass"
    }
}
