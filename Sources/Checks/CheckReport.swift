public import FoundationEssentials
import Glibc

/// One check as every output shows it: its confirmed state and its latest result. The table,
/// health+json, the Nagios line and the metrics are rendered from these; the daemon maps them to
/// the API's `CheckHealth` and `CheckStatus`.
public struct CheckReport: Sendable, Equatable {
    /// The check's name.
    public var name: String
    /// disk, memory, sqlite, queue, http or command.
    public var kind: String
    /// The confirmed state (after hysteresis); nil while the check is pending.
    public var state: CheckState?
    /// Since when the confirmed state holds, if known.
    public var since: Date?
    /// The latest run's result; nil before the first run.
    public var latest: CheckResult?
    /// How often it runs.
    public var every: Duration
    /// The warning range, as written.
    public var warn: String?
    /// The critical range, as written.
    public var crit: String?

    /// Creates a report.
    public init(name: String, kind: String, state: CheckState?, since: Date?, latest: CheckResult?, every: Duration, warn: String?, crit: String?) {
        self.name = name
        self.kind = kind
        self.state = state
        self.since = since
        self.latest = latest
        self.every = every
        self.warn = warn
        self.crit = crit
    }

    /// The state outputs use: the confirmed one, or UNKNOWN while pending (nobody knows yet).
    public var effectiveState: CheckState { state ?? .unknown }
}

extension [CheckReport] {
    /// The overall state: the worst of all checks by `CheckState.severity` (CRITICAL outranks
    /// WARNING, which outranks UNKNOWN); OK when there are none.
    public var overallState: CheckState { CheckState.overall(map(\.effectiveState)) }
}
