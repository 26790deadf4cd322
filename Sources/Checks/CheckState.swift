/// The result state of a health check, with the Nagios plugin exit code of each state.
///
/// The check kinds (disk, memory, sqlite, queue, http, command) arrive with the checks issue;
/// this is the vocabulary every output (table, health+json, Nagios line, metrics) will share.
public enum CheckState: String, Sendable, CaseIterable, Comparable {
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

    /// Worse states sort later, so the overall state of several checks is their maximum.
    public static func < (lhs: CheckState, rhs: CheckState) -> Bool {
        lhs.exitCode < rhs.exitCode
    }
}
