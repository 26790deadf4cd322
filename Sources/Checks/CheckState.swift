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

    /// Worse states sort later, so the overall state of several checks is their maximum.
    public static func < (lhs: CheckState, rhs: CheckState) -> Bool {
        lhs.exitCode < rhs.exitCode
    }
}
