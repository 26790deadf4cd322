public import FoundationEssentials
import Glibc
public import StateStore

/// The record of backups in opsd's state database (`backup_runs`), shared by opsd, `opsctl` and
/// the backup freshness check (which must not need libgit2 to read it):
/// each run's outcome and whether the remote had everything afterwards. The backup freshness
/// check and `opsctl status` read it; opsd's scheduled backup reads back its own run by run id.
public struct BackupHistory: Sendable {
    let database: StateDatabase

    static let schema = StateSchema("backup", migrations: [
        .init("backup.1", """
            CREATE TABLE backup_runs (
                id INTEGER PRIMARY KEY,
                started_at REAL NOT NULL,
                finished_at REAL NOT NULL,
                succeeded INTEGER NOT NULL,     -- 1 when the local commit (or "no change") succeeded
                commit_id TEXT,                 -- the new commit, NULL when nothing changed or it failed
                remote_configured INTEGER NOT NULL,
                remote_in_sync INTEGER NOT NULL, -- 1 when the remote had every local commit afterwards
                unpushed_commits INTEGER NOT NULL,
                error TEXT                      -- why the backup or the push failed (never a secret)
            );
            CREATE INDEX backup_runs_finished ON backup_runs (finished_at);
            """),
        // The id the starter of a run gave it (opsd's scheduled backup passes one to the
        // companion), so it can read back exactly its own run.
        .init("backup.2", """
            ALTER TABLE backup_runs ADD COLUMN run_id TEXT;
            CREATE UNIQUE INDEX backup_runs_by_run_id ON backup_runs (run_id) WHERE run_id IS NOT NULL;
            """),
        // What each backup added to the local repository, for /metrics (stored and pushed bytes);
        // NULL for runs recorded before, and for failed runs.
        .init("backup.3", "ALTER TABLE backup_runs ADD COLUMN stored_bytes INTEGER;"),
        // A partial backup: the parts that failed while the rest was committed, one sentence each
        // ("database analytics: …; file /etc/x: …"); NULL when every part was stored.
        .init("backup.4", "ALTER TABLE backup_runs ADD COLUMN failed_parts TEXT;"),
    ], history: [("backup_runs", "finished_at")])

    /// The history in `database`; its table is created before its first use.
    public init(database: StateDatabase) {
        self.database = database
    }

    /// Opens `daemon.state_dir`'s state database for this process alone, creating the table when
    /// missing; blocks. For short-lived processes (the companion, opsctl).
    public init(stateDirectory: String) throws {
        self.init(database: try StateDatabase(stateDirectory: stateDirectory))
        try database.performBlocking(Self.schema) { _ in }
    }

    /// ``init(stateDirectory:)`` off the caller's thread.
    public static func open(stateDirectory: String) async throws -> BackupHistory {
        BackupHistory(database: try await StateDatabase.open(stateDirectory: stateDirectory))
    }

    /// Records a backup whose local commit (or "no change") succeeded, and how its push went,
    /// under `runID` when its starter gave one.
    public func recordSuccess(
        started: Date, finished: Date, commit: String?, remoteConfigured: Bool, remoteInSync: Bool, unpushedCommits: Int, pushError: String?,
        runID: String? = nil, storedBytes: Int? = nil, failedParts: String? = nil
    ) async throws {
        try await database.perform(Self.schema) { database in
            try database.run(
                "INSERT INTO backup_runs (started_at, finished_at, succeeded, commit_id, remote_configured, remote_in_sync, unpushed_commits, error, run_id, stored_bytes, failed_parts) VALUES (?, ?, 1, ?, ?, ?, ?, ?, ?, ?, ?)",
                started.timeIntervalSince1970, finished.timeIntervalSince1970, commit,
                remoteConfigured, remoteInSync, unpushedCommits, pushError, runID, storedBytes.map(Int64.init), failedParts
            )
        }
    }

    /// Records a backup that failed before or while committing, under `runID` when its starter gave one.
    public func recordFailure(started: Date, finished: Date, remoteConfigured: Bool, error: String, runID: String? = nil) async throws {
        try await database.perform(Self.schema) { database in
            try database.run(
                "INSERT INTO backup_runs (started_at, finished_at, succeeded, commit_id, remote_configured, remote_in_sync, unpushed_commits, error, run_id) VALUES (?, ?, 0, NULL, ?, 0, 0, ?, ?)",
                started.timeIntervalSince1970, finished.timeIntervalSince1970, remoteConfigured, error, runID
            )
        }
    }

    /// What the freshness check needs: the last run, the last success, the last time the remote was in sync.
    public func summary() async throws -> BackupRecordSummary {
        try await database.perform(Self.schema) { try Self.summary(in: $0) }
    }

    /// ``summary()`` on the calling thread, which it blocks: for synchronous callers in
    /// short-lived processes.
    public func summaryBlocking() throws -> BackupRecordSummary {
        try database.performBlocking(Self.schema) { try Self.summary(in: $0) }
    }

    /// The run recorded under `runID`, or nil when none was (its process ended before recording).
    public func run(id runID: String) async throws -> BackupRecordSummary.Run? {
        try await database.perform(Self.schema) { database in
            try database.query("\(Self.runColumns) WHERE run_id = ?", runID).first.map(Self.run(from:))
        }
    }

    private static let runColumns =
        "SELECT finished_at, succeeded, remote_configured, remote_in_sync, unpushed_commits, error, commit_id, started_at, stored_bytes, id, failed_parts FROM backup_runs"

    private static func run(from row: Row) -> BackupRecordSummary.Run {
        BackupRecordSummary.Run(
            finished: Date(timeIntervalSince1970: row.double(0) ?? 0), succeeded: row.int(1) == 1,
            remoteConfigured: row.int(2) == 1, remoteInSync: row.int(3) == 1,
            unpushedCommits: Int(row.int(4) ?? 0), error: row.string(5), commit: row.string(6),
            started: row.double(7).map(Date.init(timeIntervalSince1970:)), storedBytes: row.int(8).map(Int.init), failedParts: row.string(10)
        )
    }

    private static func summary(in database: Database) throws -> BackupRecordSummary {
        func time(_ sql: String) throws -> Date? {
            try database.scalar(sql).sqlValue.doubleValue.map { Date(timeIntervalSince1970: $0) }
        }
        var summary = BackupRecordSummary()
        summary.lastSuccess = try time("SELECT max(finished_at) FROM backup_runs WHERE succeeded = 1")
        summary.lastInSync = try time("SELECT max(finished_at) FROM backup_runs WHERE remote_in_sync = 1")
        let newest = try database.query("\(runColumns) ORDER BY id DESC LIMIT 1").first
        summary.lastRun = newest.map(run(from:))
        summary.trackedSince = try time("SELECT applied_at FROM schema_migrations WHERE name = 'backup.1'")
        // A push carries every commit since the previous one that reached the remote.
        if let newest, newest.int(3) == 1, let id = newest.int(9) {
            summary.lastPushedBytes = try database.query(
                "SELECT sum(stored_bytes) FROM backup_runs WHERE succeeded = 1 AND id <= ? AND id > (SELECT coalesce(max(id), 0) FROM backup_runs WHERE remote_in_sync = 1 AND id < ?)",
                id, id
            ).first?.int(0).map(Int.init)
        }
        return summary
    }
}

extension SQLValue {
    fileprivate var doubleValue: Double? {
        switch self {
        case .real(let v): return v
        case .integer(let v): return Double(v)
        default: return nil
        }
    }
}

/// The recorded state of backups that the freshness evaluation reads.
public struct BackupRecordSummary: Sendable, Equatable {
    /// The most recent run.
    public struct Run: Sendable, Equatable {
        /// When it finished.
        public var finished: Date
        /// True when it committed (or found nothing to commit).
        public var succeeded: Bool
        /// True when a remote is configured.
        public var remoteConfigured: Bool
        /// True when the remote had every local commit afterwards.
        public var remoteInSync: Bool
        /// Local commits the remote lacked afterwards.
        public var unpushedCommits: Int
        /// Why it (or its push) failed.
        public var error: String?
        /// The commit it made; nil when nothing changed or it failed.
        public var commit: String?
        /// When it started (its duration, for `/metrics`); nil for a run built without one.
        public var started: Date?
        /// Bytes it added to the local repository (its packs); nil when it failed or was recorded
        /// before opsd kept this.
        public var storedBytes: Int?
        /// For a partial backup, the parts that failed and why (the rest was committed); nil
        /// when every part was stored.
        public var failedParts: String?

        /// A run as recorded.
        public init(
            finished: Date, succeeded: Bool, remoteConfigured: Bool, remoteInSync: Bool, unpushedCommits: Int, error: String?, commit: String? = nil,
            started: Date? = nil, storedBytes: Int? = nil, failedParts: String? = nil
        ) {
            self.failedParts = failedParts
            self.started = started
            self.storedBytes = storedBytes
            self.finished = finished
            self.succeeded = succeeded
            self.remoteConfigured = remoteConfigured
            self.remoteInSync = remoteInSync
            self.unpushedCommits = unpushedCommits
            self.error = error
            self.commit = commit
        }
    }

    /// The most recent run, if any.
    public var lastRun: Run?
    /// When a backup last succeeded locally.
    public var lastSuccess: Date?
    /// When the remote last had every local commit.
    public var lastInSync: Date?
    /// When this state database began recording backups: on a fresh install, the first start
    /// of opsd (or the first opsctl command that read the records). Freshness counts from here
    /// until the first backup ran.
    public var trackedSince: Date?
    /// When the newest run pushed: the bytes of the packs its push carried (its own and those of
    /// the runs that had stayed local before it); nil otherwise.
    public var lastPushedBytes: Int?

    /// A summary; empty means no backup ever ran.
    public init(lastRun: Run? = nil, lastSuccess: Date? = nil, lastInSync: Date? = nil, trackedSince: Date? = nil) {
        self.lastRun = lastRun
        self.lastSuccess = lastSuccess
        self.lastInSync = lastInSync
        self.trackedSince = trackedSince
    }
}
