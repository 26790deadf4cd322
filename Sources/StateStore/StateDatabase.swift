import DaemonRuntime
public import FileSafety
import FoundationEssentials
import Glibc
import Synchronization

/// opsd's own state: job runs, check history, backup records, in one SQLite file in the state
/// directory (`state.db`). Each module owns its tables and declares them as a ``StateSchema``,
/// so no module needs to know another's schema.
///
/// The one owner of the file in a process: opsd opens it once, in its composition root, and
/// hands it to every typed store (jobs, checks, backup records); short-lived processes (opsctl,
/// the backup companion) open their own. One connection, used by one caller at a time; each
/// schema is applied once per process, before its first use. In opsd every statement runs
/// through ``perform(_:_:)``, on the blocking thread pool: a busy or slow disk must not hold up
/// the event loops that serve the control socket and the watchdog.
public final class StateDatabase: @unchecked Sendable {
    // @unchecked: `connection` is only touched while holding `applied`'s lock.
    private let connection: Database
    /// The schemas applied through this connection, by name.
    private let applied = Mutex<Set<String>>([])

    /// The file name inside `daemon.state_dir`.
    public static let fileName = "state.db"

    /// The path of the state database for a state directory.
    public static func path(in stateDirectory: String) -> String {
        stateDirectory.hasSuffix("/") ? stateDirectory + fileName : stateDirectory + "/" + fileName
    }

    /// Creates the state directory when missing (mode 0750) and refuses one that a user other
    /// than root and opsd's own could change: such a user could swap `state.db` (opsd's history,
    /// the backups' records) or plant links where SQLite creates its journal. opsd calls it at
    /// start-up; readers (opsctl run by a member of opsd's group) need not.
    public static func prepareDirectory(_ stateDirectory: String) throws(UntrustedPathError) {
        try TrustedDirectory.prepare(stateDirectory, mode: 0o750, purpose: "the state directory")
    }

    /// Opens (creating when missing) the state database in WAL mode, so opsd and an in-process
    /// `opsctl` or the backup companion can read and write it at the same time. Blocks: for
    /// short-lived processes; opsd uses ``open(stateDirectory:)``.
    /// The directory is created (mode 0750) when missing; the database is created 0640 (group:
    /// opsctl's readers; nothing for other users), before the umask.
    public init(stateDirectory: String) throws(SQLiteError) {
        if !FileManager.default.fileExists(atPath: stateDirectory) {
            try? FileManager.default.createDirectory(
                atPath: stateDirectory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o750])
        }
        let database = try Database(path: Self.path(in: stateDirectory), mode: .readWriteCreate, busyTimeout: .seconds(10), creationMode: 0o640)
        try database.execute("""
            PRAGMA journal_mode = WAL;
            PRAGMA synchronous = NORMAL;
            PRAGMA foreign_keys = ON;
            CREATE TABLE IF NOT EXISTS schema_migrations (name TEXT PRIMARY KEY, applied_at INTEGER NOT NULL);
            CREATE TABLE IF NOT EXISTS history_tables (name TEXT PRIMARY KEY, time_column TEXT NOT NULL);
            """)
        connection = database
    }

    /// Opens the state database off the caller's thread (opening may wait out another process's
    /// lock): what opsd calls, once.
    public static func open(stateDirectory: String) async throws -> StateDatabase {
        try await offload { try StateDatabase(stateDirectory: stateDirectory) }
    }

    /// Runs `body` on the connection on the blocking thread pool, after applying `schema` if this
    /// process has not yet; one call at a time. It runs even when the calling task is cancelled:
    /// the record of a run that opsd's shutdown interrupted is written after the cancellation.
    @discardableResult
    public func perform<T: Sendable>(_ schema: StateSchema? = nil, _ body: @escaping @Sendable (Database) throws -> T) async throws -> T {
        // The pool drops work whose task is cancelled; a task of its own is not.
        try await Task { try await offload { [self] in try performBlocking(schema, body) } }.value
    }

    /// ``perform(_:_:)`` on the calling thread, which it blocks: for short-lived processes and
    /// synchronous callers, never on opsd's event loops.
    @discardableResult
    public func performBlocking<T: Sendable>(_ schema: StateSchema? = nil, _ body: (Database) throws -> T) throws -> T {
        try applied.withLock { applied in
            if let schema, !applied.contains(schema.name) {
                try schema.apply(to: connection)
                applied.insert(schema.name)
            }
            return try body(connection)
        }
    }

    /// Deletes rows older than `cutoff` (seconds since 1970) from every table a schema declared as
    /// history; returns the number of rows deleted per table.
    public func prune(before cutoff: Double) async throws -> [String: Int] {
        try await perform { database in
            var deleted: [String: Int] = [:]
            for row in try database.query("SELECT name, time_column FROM history_tables ORDER BY name") {
                guard let table = row.string(0), let column = row.string(1) else { continue }
                deleted[table] = try database.run("DELETE FROM \(Self.quoted(table)) WHERE \(Self.quoted(column)) < ?", cutoff)
            }
            return deleted
        }
    }

    private static func quoted(_ identifier: String) -> String {
        "\"" + identifier.replacing("\"", with: "\"\"") + "\""
    }
}

/// A module's tables in the state database: its migrations in order, and the tables that are
/// history for the prune job to trim.
public struct StateSchema: Sendable {
    /// One named migration. Migrations are append-only: change a schema with a new one, never
    /// by editing an old one.
    public struct Migration: Sendable {
        /// Unique across modules, e.g. "jobs.1".
        public var name: String
        /// The statements.
        public var sql: String

        /// A migration named `name` running `sql`.
        public init(_ name: String, _ sql: String) {
            self.name = name
            self.sql = sql
        }
    }

    /// The schema's name: what the state database remembers it by.
    public var name: String
    /// The migrations, oldest first.
    public var migrations: [Migration]
    /// History tables and their time column (seconds since 1970), trimmed by the prune job.
    public var history: [(table: String, timeColumn: String)]

    /// A schema of `migrations` with `history` tables.
    public init(_ name: String, migrations: [Migration], history: [(table: String, timeColumn: String)] = []) {
        self.name = name
        self.migrations = migrations
        self.history = history
    }

    func apply(to database: Database) throws {
        for migration in migrations { try database.migrate(migration.name, migration.sql) }
        for table in history { try database.registerHistory(table: table.table, timeColumn: table.timeColumn) }
    }
}

extension Database {
    /// Declares `table` as history that the prune job trims by `timeColumn` (seconds since 1970),
    /// so pruning needs no knowledge of the modules that keep history.
    public func registerHistory(table: String, timeColumn: String) throws {
        try run("INSERT OR REPLACE INTO history_tables (name, time_column) VALUES (?, ?)", table, timeColumn)
    }

    /// Applies `sql` once per database under `name` (e.g. "scheduler.1"); later calls are no-ops.
    /// Migrations are append-only: change a schema with a new name, never by editing an old one.
    public func migrate(_ name: String, _ sql: String) throws {
        try transaction {
            let done = try scalar("SELECT 1 FROM schema_migrations WHERE name = ?", name)
            guard done == .null else { return }
            try execute(sql)
            try run("INSERT INTO schema_migrations (name, applied_at) VALUES (?, strftime('%s','now'))", name)
        }
    }
}
