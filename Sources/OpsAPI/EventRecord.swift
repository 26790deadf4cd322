public import FoundationEssentials

/// `GET /v1/events`: one event of opsd's history, as `opsctl events --json` prints it (one object
/// per line). The words in `kind`, `severity` and `subject_kind` are docs/alerts.md's; a client
/// should show a word it does not know rather than fail, since new kinds get added.
public struct EventRecord: Codable, Sendable, Equatable {
    /// The event's place in the history; larger is newer. A follower passes the last one it saw
    /// as `after`.
    public var id: Int64
    /// When it happened.
    public var time: Date
    /// What happened: `worker_exited`, `job_failed`, `check_crit`, `opsd_started`, ….
    public var kind: String
    /// `ok`, `info`, `warning` or `critical`.
    public var severity: String
    /// `check`, `worker`, `job`, `backup` or `daemon`.
    public var subjectKind: String
    /// The name of what it happened to (`web`, `disk-root`; `opsd` for the daemon).
    public var subject: String
    /// One sentence for a person.
    public var message: String
    /// The facts behind the message (`exit_code`, `attempts`, `value`), by name.
    public var fields: [String: String]

    /// Creates a record.
    public init(
        id: Int64, time: Date, kind: String, severity: String, subjectKind: String, subject: String, message: String,
        fields: [String: String]
    ) {
        self.id = id
        self.time = time
        self.kind = kind
        self.severity = severity
        self.subjectKind = subjectKind
        self.subject = subject
        self.message = message
        self.fields = fields
    }
}

/// The bounds of `GET /v1/events`, which opsd enforces and opsctl respects.
public enum EventQueryLimits {
    /// The most events one answer carries (`limit`).
    public static let maximumLimit = 10_000
    /// The longest long poll a request may ask for, in seconds (`wait`).
    public static let maximumWait = 60
}
