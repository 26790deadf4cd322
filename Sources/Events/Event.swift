public import FoundationEssentials

/// One thing that happened on the host and that a person may need to hear about: a check changing
/// state, a worker opsd gave up on, a job that failed after its retries, a backup that stayed local.
///
/// The domains emit events into an ``EventSink``; the alert routes, the journal and the history in
/// the state database consume them (``EventBus``). An event says what happened (``kind``), to what
/// (``subject``), how bad it is (``severity``), in one sentence (``message``), with the facts behind
/// it (``fields``: exit status, attempts, the check's value), and when.
public struct Event: Sendable, Equatable {
    /// What happened.
    public var kind: EventKind
    /// What it happened to.
    public var subject: Subject
    /// How bad it is; `ok` ends a condition an earlier event of the same subject began.
    public var severity: Severity
    /// One sentence for a person (`worker web exited with status 1; restarting in 2s`).
    public var message: String
    /// The facts behind the message, by name (`exit_code`, `attempts`, `value`), for routes,
    /// hooks and the journal. Never secrets: emitters put in names and numbers, not URLs or commands.
    public var fields: [String: String]
    /// When it happened.
    public var time: Date

    /// Creates an event; the severity defaults to the kind's.
    public init(
        _ kind: EventKind, subject: Subject, severity: Severity? = nil, message: String,
        fields: [String: String] = [:], time: Date = Date()
    ) {
        self.kind = kind
        self.subject = subject
        self.severity = severity ?? kind.severity
        self.message = message
        self.fields = fields
        self.time = time
    }
}

/// What an event is about: a check, a worker, a job, the backup or opsd itself, by name.
public struct Subject: Sendable, Hashable, CustomStringConvertible {
    /// The sort of thing.
    public enum Kind: String, Sendable, Hashable, CaseIterable, Codable {
        case check, worker, job, backup, daemon
    }

    /// The sort of thing.
    public var kind: Kind
    /// Its name in the configuration (`web`, `disk-root`); `opsd` for the daemon, the backup
    /// job's name for the backup.
    public var name: String

    /// Creates a subject.
    public init(_ kind: Kind, _ name: String) {
        self.kind = kind
        self.name = name
    }

    /// `worker web`.
    public var description: String { "\(kind.rawValue) \(name)" }

    /// The daemon itself.
    public static let daemon = Subject(.daemon, "opsd")
}

/// How bad an event is. Ordered: `ok` < `info` < `warning` < `critical`.
public enum Severity: String, Sendable, Hashable, CaseIterable, Codable, Comparable {
    /// A condition ended: a check recovered, a worker runs again, a job succeeded after failing.
    case ok
    /// Worth a line in the history, nobody needs to act: opsd started, a restore was done.
    case info
    /// Someone should look soon.
    case warning
    /// Someone should act now.
    case critical

    private var rank: Int { Self.allCases.firstIndex(of: self) ?? 0 }

    public static func < (lhs: Severity, rhs: Severity) -> Bool { lhs.rank < rhs.rank }
}
