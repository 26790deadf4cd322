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
    /// The parts that failed while the rest was stored (a database that is not SQLite, a file
    /// that cannot be read, a `backup.before` command that failed); empty for a whole backup.
    public var failures: [PartFailure] = []

    /// True when a new commit was made.
    public var changed: Bool { commit != nil }
    /// True when some part failed and the backup holds only the others.
    public var partial: Bool { !failures.isEmpty }
}

/// One part of a backup that failed on its own: the rest of the backup went ahead without it.
public struct PartFailure: Sendable, Equatable, Codable, CustomStringConvertible {
    /// What kind of part failed.
    public enum Kind: String, Sendable, Codable {
        /// A database under `backup.databases` (its previous backup's copy, if any, stays in the commit).
        case database
        /// A file under `backup.files` that could not be read.
        case file
        /// A command under `backup.before`.
        case before
    }

    /// What kind of part failed.
    public var kind: Kind
    /// Which one: the database's name, the file's path, or the command line.
    public var part: String
    /// One sentence: why it failed and what to do.
    public var reason: String

    /// Creates a failure record.
    public init(kind: Kind, part: String, reason: String) {
        self.kind = kind
        self.part = part
        self.reason = reason
    }

    /// `database analytics: <reason>`.
    public var description: String { "\(kind.rawValue) \(part): \(reason)" }

    /// The failures as one line for a record or an alert: each part and why, joined by "; ".
    public static func summary(_ failures: [PartFailure]) -> String {
        "\(failures.count) part\(failures.count == 1 ? "" : "s") failed, the rest was backed up: " + failures.map(\.description).joined(separator: "; ")
    }
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
