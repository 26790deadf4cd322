public import FoundationEssentials
import Glibc
public import StateStore

/// How a run ended.
public enum RunResult: String, Sendable, Codable, CaseIterable {
    /// Still going.
    case running
    /// Finished successfully (perhaps after retries).
    case ok
    /// Failed on every attempt, or timed out on the last one.
    case failed
    /// Not started: the previous run was still going when this one was due.
    case skipped
    /// Not started: it would have started later than the job's misfire grace allows.
    case missed
    /// Cut short by opsd stopping (or found still "running" after opsd died).
    case interrupted
}

/// One row of a job's history.
public struct RunRecord: Sendable, Equatable {
    /// The fire time the run belongs to.
    public var scheduledAt: Date
    /// When it started, if it did.
    public var startedAt: Date?
    /// When it ended.
    public var finishedAt: Date?
    /// How it ended.
    public var result: RunResult
    /// Attempts made (retries included).
    public var attempts: Int
    /// The summary or the error.
    public var message: String?
    /// The tail of the run's output (`RunOutputTail`), secrets masked; nil when it wrote
    /// nothing or its work runs no command.
    public var output: String?

    /// A record; a run that did not start has no start or end.
    public init(
        scheduledAt: Date, startedAt: Date? = nil, finishedAt: Date? = nil, result: RunResult, attempts: Int, message: String?, output: String? = nil
    ) {
        self.scheduledAt = scheduledAt
        self.startedAt = startedAt
        self.finishedAt = finishedAt
        self.result = result
        self.attempts = attempts
        self.message = message
        self.output = output
    }

    /// Wall time from start to end.
    public var duration: TimeInterval? {
        guard let startedAt, let finishedAt else { return nil }
        return finishedAt.timeIntervalSince(startedAt)
    }
}

/// Job history and the last fire time of each job, in opsd's state database.
///
/// The last fire time is what makes restarts exact: it is written when a run starts, so a
/// restarted opsd neither repeats a run that already happened nor (with `catch_up`) forgets one
/// that was due while it was down. Every statement runs through the state database's owner, off
/// the event loops.
public final class JobRunStore: Sendable {
    /// The state database the job tables live in (shared with the other stores in opsd).
    public let database: StateDatabase
    /// Records kept per job whatever the prune job does: an every-second job cannot fill the disk.
    public static let recordsPerJob = 1000

    static let schema = StateSchema("jobs", migrations: [
        .init("jobs.1", """
            CREATE TABLE job_runs (
                id INTEGER PRIMARY KEY,
                job TEXT NOT NULL,
                scheduled_at REAL NOT NULL,
                started_at REAL,
                finished_at REAL,
                result TEXT NOT NULL,
                attempts INTEGER NOT NULL DEFAULT 0,
                message TEXT
            );
            CREATE INDEX job_runs_by_job ON job_runs (job, id);
            CREATE TABLE job_state (job TEXT PRIMARY KEY, last_fire REAL NOT NULL);
            """),
        // The tail of a run's output; rows from before it have none.
        .init("jobs.2", "ALTER TABLE job_runs ADD COLUMN output TEXT"),
    ], history: [("job_runs", "scheduled_at")])

    /// The job tables in `database`, created before their first use.
    public init(database: StateDatabase) {
        self.database = database
    }

    /// Opens the state database of `stateDirectory` for this process alone and creates the job
    /// tables when missing; blocks. For short-lived processes (opsctl); opsd shares its database.
    public convenience init(stateDirectory: String) throws {
        self.init(database: try StateDatabase(stateDirectory: stateDirectory))
        try database.performBlocking(Self.schema) { _ in }
    }

    @discardableResult
    private func perform<T: Sendable>(_ body: @escaping @Sendable (Database) throws -> T) async throws -> T {
        try await database.perform(Self.schema, body)
    }

    /// Runs left "running" by an opsd that died are marked interrupted; returns how many.
    @discardableResult
    public func markInterrupted() async throws -> Int {
        try await perform { database in
            try database.run("UPDATE job_runs SET result = 'interrupted', message = 'opsd stopped during the run' WHERE result = 'running'")
        }
    }

    /// The directory of the state database's file (nil when it has none): where the jobs' lock
    /// files live, so opsd and an in-process `opsctl jobs run` meet on the same ones.
    public func stateDirectory() async throws -> String? {
        try await perform { database in
            guard let file = try database.query("PRAGMA database_list").first(where: { $0.string(1) == "main" })?.string(2),
                let slash = file.lastIndex(of: "/")
            else { return nil }
            return slash == file.startIndex ? "/" : String(file[..<slash])
        }
    }

    /// The fire time of the last run that started, if any.
    public func lastFire(of job: String) async throws -> Date? {
        try await perform { database in
            try database.query("SELECT last_fire FROM job_state WHERE job = ?", job).first?.double(0).map(Date.init(timeIntervalSince1970:))
        }
    }

    /// Records the start of the run for `scheduled`; returns its id. Only a run of the schedule
    /// `movesPhase`: a manual or at-start run must not shift an interval's fire times, now or
    /// after a restart (which continues from the stored last fire time).
    public func started(_ job: String, scheduled: Date, at start: Date, movesPhase: Bool = true) async throws -> Int64 {
        try await perform { database in
            try database.transaction {
                try database.run(
                    "INSERT INTO job_runs (job, scheduled_at, started_at, result) VALUES (?, ?, ?, 'running')",
                    job, scheduled.timeIntervalSince1970, start.timeIntervalSince1970)
                let id = database.lastInsertRowID
                if movesPhase {
                    try database.run(
                        "INSERT INTO job_state (job, last_fire) VALUES (?, ?) ON CONFLICT (job) DO UPDATE SET last_fire = excluded.last_fire",
                        job, scheduled.timeIntervalSince1970)
                }
                try Self.trim(job, in: database)
                return id
            }
        }
    }

    /// Records how run `id` ended.
    public func finished(_ id: Int64, result: RunResult, attempts: Int, message: String?, output: String? = nil, at end: Date) async throws {
        try await perform { database in
            try database.run(
                "UPDATE job_runs SET result = ?, attempts = ?, message = ?, output = ?, finished_at = ? WHERE id = ?",
                result.rawValue, attempts, message, output, end.timeIntervalSince1970, id)
        }
    }

    /// Records a fire time that did not start a run (`skipped` or `missed`). A missed fire time
    /// counts as handled, so a restart does not report it again.
    public func notStarted(_ job: String, scheduled: Date, result: RunResult, reason: String) async throws {
        try await perform { database in
            try database.transaction {
                try database.run(
                    "INSERT INTO job_runs (job, scheduled_at, result, message) VALUES (?, ?, ?, ?)",
                    job, scheduled.timeIntervalSince1970, result.rawValue, reason)
                if result == .missed {
                    try database.run(
                        "INSERT INTO job_state (job, last_fire) VALUES (?, ?) ON CONFLICT (job) DO UPDATE SET last_fire = max(last_fire, excluded.last_fire)",
                        job, scheduled.timeIntervalSince1970)
                }
                try Self.trim(job, in: database)
            }
        }
    }

    private static func trim(_ job: String, in database: Database) throws {
        try database.run(
            "DELETE FROM job_runs WHERE job = ? AND id <= (SELECT id FROM job_runs WHERE job = ? ORDER BY id DESC LIMIT 1 OFFSET ?)",
            job, job, recordsPerJob)
    }

    /// The id of the newest run record, 0 when there is none: where a reader of new runs starts.
    public func newestRunID() async throws -> Int64 {
        try await perform { database in try database.query("SELECT max(id) FROM job_runs").first?.int(0) ?? 0 }
    }

    /// Every run record with an id above `id`, oldest first, with its job and id: for readers
    /// that keep counts of their own (`/metrics`), since the table itself is trimmed.
    public func runs(after id: Int64) async throws -> [(id: Int64, job: String, record: RunRecord)] {
        try await perform { database in
            try database.query(
                "SELECT id, job, scheduled_at, started_at, finished_at, result, attempts, message FROM job_runs WHERE id > ? ORDER BY id", id
            ).compactMap { row -> (id: Int64, job: String, record: RunRecord)? in
                guard let runID = row.int(0), let job = row.string(1), let result = RunResult(rawValue: row.string(5) ?? "") else { return nil }
                return (runID, job, RunRecord(
                    scheduledAt: Date(timeIntervalSince1970: row.double(2) ?? 0),
                    startedAt: row.double(3).map(Date.init(timeIntervalSince1970:)),
                    finishedAt: row.double(4).map(Date.init(timeIntervalSince1970:)),
                    result: result, attempts: Int(row.int(6) ?? 0), message: row.string(7)))
            }
        }
    }

    /// The newest run of `job` that started, if any.
    public func lastRun(of job: String) async throws -> RunRecord? {
        try await history(of: job, limit: 1, startedOnly: true).first
    }

    /// The newest `limit` records of `job`, newest first.
    public func history(of job: String, limit: Int, startedOnly: Bool = false) async throws -> [RunRecord] {
        let filter = startedOnly ? "AND started_at IS NOT NULL" : ""
        return try await perform { database in
            try database.query(
                "SELECT scheduled_at, started_at, finished_at, result, attempts, message, output FROM job_runs WHERE job = ? \(filter) ORDER BY id DESC LIMIT ?",
                job, limit
            ).map { row in
                RunRecord(
                    scheduledAt: Date(timeIntervalSince1970: row.double(0) ?? 0),
                    startedAt: row.double(1).map(Date.init(timeIntervalSince1970:)),
                    finishedAt: row.double(2).map(Date.init(timeIntervalSince1970:)),
                    result: RunResult(rawValue: row.string(3) ?? "") ?? .failed,
                    attempts: Int(row.int(4) ?? 0),
                    message: row.string(5),
                    output: row.string(6))
            }
        }
    }

    /// Deletes history (of every module that registered some) older than `cutoff`.
    public func prune(before cutoff: Date) async throws -> [String: Int] {
        // The job schema first, so its table is registered as history even before any run.
        try await perform { _ in }
        return try await database.prune(before: cutoff.timeIntervalSince1970)
    }
}
