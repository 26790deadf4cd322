/// What one backup did: the commit (if any), each database, the files, and the push.
public struct BackupOutcome: Sendable, Equatable, Codable {
    /// The new commit, or nil when nothing changed since the previous backup.
    public var commit: String?
    /// The branch the backup went to.
    public var branch: String
    /// One entry per configured database.
    public var databases: [DatabaseOutcome]
    /// How many config files the backup holds.
    public var fileCount: Int
    /// Configured files or directories that do not exist (skipped, not fatal).
    public var missingFiles: [String]
    /// Files left out because the configuration names them as secrets (a token, a key), with
    /// the key that names each: `/etc/ops/git-token (backup.remote.token_file)`.
    public var secretFilesLeftOut: [String] = []
    /// Symbolic links under `backup.files`: not followed, not stored.
    public var linksNotFollowed: [String] = []
    /// Files stored with their secret values masked (the configuration file).
    public var maskedFiles: [String] = []
    /// Bytes this backup added to the local repository (all its packs).
    public var storedBytes: Int
    /// What happened on the remote.
    public var push: PushOutcome
    /// Wall-clock seconds the backup took, push included.
    public var seconds: Double

    /// True when a new commit was made.
    public var changed: Bool { commit != nil }
}

/// The push part of a backup.
public struct PushOutcome: Sendable, Equatable, Codable {
    /// How the push ended.
    public enum State: String, Sendable, Codable {
        /// No `backup.remote` is configured.
        case notConfigured = "not-configured"
        /// The remote now has every local commit.
        case pushed
        /// The push failed; `unpushedCommits` stay local until the next backup pushes them.
        case failed
    }

    /// How the push ended.
    public var state: State
    /// Commits sent by this push.
    public var pushedCommits: Int
    /// Local commits the remote does not have yet.
    public var unpushedCommits: Int
    /// Why the push failed (no secrets), when it did.
    public var error: String?
}
