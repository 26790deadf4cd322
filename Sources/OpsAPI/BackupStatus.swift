public import FoundationEssentials

/// The backup in `StatusReport`.
public struct BackupStatus: Codable, Sendable, Equatable {
    /// The local repository.
    public var repository: String
    /// The remote, without credentials.
    public var remote: String?
    /// The cron schedule, if the daemon takes backups on its own.
    public var schedule: String?
    /// When the last backup was committed, if ever.
    public var lastBackupAt: Date?
    /// When the remote last had every local commit, if ever.
    public var lastPushedAt: Date?
    /// Local commits the remote does not have yet (after the latest run).
    public var unpushedCommits: Int?
    /// Why the latest run, or its push, failed.
    public var lastError: String?

    /// Creates a backup status.
    public init(
        repository: String, remote: String?, schedule: String?, lastBackupAt: Date? = nil,
        lastPushedAt: Date? = nil, unpushedCommits: Int? = nil, lastError: String? = nil
    ) {
        self.repository = repository
        self.remote = remote
        self.schedule = schedule
        self.lastBackupAt = lastBackupAt
        self.lastPushedAt = lastPushedAt
        self.unpushedCommits = unpushedCommits
        self.lastError = lastError
    }
}
