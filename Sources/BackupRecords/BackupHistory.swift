public import FoundationEssentials
import Glibc
import StateStore

/// The record of backups in opsd's state database (`backup_runs`), shared by opsd, `opsctl` and
/// the backup freshness check (which must not need libgit2 to read it):
/// each run's outcome and whether the remote had everything afterwards. The backup freshness
/// check and `opsctl status` read it.
public struct BackupHistory {
    let database: Database

    /// Opens the history in `daemon.state_dir`'s state database, creating its table when missing.
    public init(stateDirectory: String) throws {
        database = try StateDatabase.open(stateDirectory: stateDirectory)
        try database.migrate("backup.1", """
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
            """)
        try database.registerHistory(table: "backup_runs", timeColumn: "finished_at")
    }

    /// Records a backup whose local commit (or "no change") succeeded, and how its push went.
    public func recordSuccess(
        started: Date, finished: Date, commit: String?, remoteConfigured: Bool, remoteInSync: Bool, unpushedCommits: Int, pushError: String?
    ) throws {
        try database.run(
            "INSERT INTO backup_runs (started_at, finished_at, succeeded, commit_id, remote_configured, remote_in_sync, unpushed_commits, error) VALUES (?, ?, 1, ?, ?, ?, ?, ?)",
            started.timeIntervalSince1970, finished.timeIntervalSince1970, commit,
            remoteConfigured, remoteInSync, unpushedCommits, pushError
        )
    }

    /// Records a backup that failed before or while committing.
    public func recordFailure(started: Date, finished: Date, remoteConfigured: Bool, error: String) throws {
        try database.run(
            "INSERT INTO backup_runs (started_at, finished_at, succeeded, commit_id, remote_configured, remote_in_sync, unpushed_commits, error) VALUES (?, ?, 0, NULL, ?, 0, 0, ?)",
            started.timeIntervalSince1970, finished.timeIntervalSince1970, remoteConfigured, error
        )
    }

    /// What the freshness check needs: the last run, the last success, the last time the remote was in sync.
    public func summary() throws -> BackupRecordSummary {
        func time(_ sql: String) throws -> Date? {
            try database.scalar(sql).sqlValue.doubleValue.map { Date(timeIntervalSince1970: $0) }
        }
        var summary = BackupRecordSummary()
        summary.lastSuccess = try time("SELECT max(finished_at) FROM backup_runs WHERE succeeded = 1")
        summary.lastInSync = try time("SELECT max(finished_at) FROM backup_runs WHERE remote_in_sync = 1")
        if let row = try database.query("SELECT finished_at, succeeded, remote_configured, remote_in_sync, unpushed_commits, error, commit_id FROM backup_runs ORDER BY id DESC LIMIT 1").first {
            summary.lastRun = .init(
                finished: Date(timeIntervalSince1970: row.double(0) ?? 0), succeeded: row.int(1) == 1,
                remoteConfigured: row.int(2) == 1, remoteInSync: row.int(3) == 1,
                unpushedCommits: Int(row.int(4) ?? 0), error: row.string(5), commit: row.string(6)
            )
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

        /// A run as recorded.
        public init(
            finished: Date, succeeded: Bool, remoteConfigured: Bool, remoteInSync: Bool, unpushedCommits: Int, error: String?, commit: String? = nil
        ) {
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

    /// A summary; empty means no backup ever ran.
    public init(lastRun: Run? = nil, lastSuccess: Date? = nil, lastInSync: Date? = nil) {
        self.lastRun = lastRun
        self.lastSuccess = lastSuccess
        self.lastInSync = lastInSync
    }
}
