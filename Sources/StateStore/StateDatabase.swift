public import FileSafety
import FoundationEssentials
import Glibc

/// opsd's own state: job runs, check history, backup records, in one SQLite file in the state
/// directory (`state.db`). Each module owns its tables and declares them as named migrations,
/// so no module needs to know another's schema.
public enum StateDatabase {
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
    /// `opsctl` can read and write it at the same time.
    /// The directory is created (mode 0750) when missing; the database is created 0640 (group:
    /// opsctl's readers; nothing for other users), before the umask.
    public static func open(stateDirectory: String) throws(SQLiteError) -> Database {
        if !FileManager.default.fileExists(atPath: stateDirectory) {
            try? FileManager.default.createDirectory(
                atPath: stateDirectory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o750])
        }
        let database = try Database(path: path(in: stateDirectory), mode: .readWriteCreate, busyTimeout: .seconds(10), creationMode: 0o640)
        try database.execute("""
            PRAGMA journal_mode = WAL;
            PRAGMA synchronous = NORMAL;
            PRAGMA foreign_keys = ON;
            CREATE TABLE IF NOT EXISTS schema_migrations (name TEXT PRIMARY KEY, applied_at INTEGER NOT NULL);
            CREATE TABLE IF NOT EXISTS history_tables (name TEXT PRIMARY KEY, time_column TEXT NOT NULL);
            """)
        return database
    }

    /// Deletes rows older than `cutoff` (seconds since 1970) from every table registered with
    /// ``Database/registerHistory(table:timeColumn:)``; returns the number of rows deleted per table.
    public static func prune(_ database: Database, before cutoff: Double) throws -> [String: Int] {
        var deleted: [String: Int] = [:]
        for row in try database.query("SELECT name, time_column FROM history_tables ORDER BY name") {
            guard let table = row.string(0), let column = row.string(1) else { continue }
            deleted[table] = try database.run("DELETE FROM \(quoted(table)) WHERE \(quoted(column)) < ?", cutoff)
        }
        return deleted
    }

    private static func quoted(_ identifier: String) -> String {
        "\"" + identifier.replacing("\"", with: "\"\"") + "\""
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
