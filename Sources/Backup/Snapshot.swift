import CSQLite
import Foundation
import StateStore

/// A consistent copy of a live SQLite database, taken with SQLite's online backup API.
///
/// `sqlite3_backup_step(-1)` copies every page inside one read transaction, so the copy is the
/// database as of one commit, whether the application uses WAL or a rollback journal and keeps
/// writing meanwhile. Pages are copied verbatim (unlike `VACUUM INTO`, which renumbers them), so
/// two snapshots differ exactly in the pages the application changed.
enum Snapshot {
    /// Copies `source` to `destination` (replaced if present); returns SQLite's page size.
    static func take(of source: String, to destination: String, busyTimeout: Duration = .seconds(30)) throws(BackupError) -> Int {
        guard FileSystem.exists(source) else {
            throw BackupError("database \(source) does not exist; fix backup.databases or create the database first")
        }
        removeWithSideFiles(destination)
        // SQLite would create the copy 0644; it holds the application's data, so it is created
        // here 0600 first (SQLite takes an empty file as an empty database, and gives its
        // journals the database file's mode).
        let created = open(destination, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
        guard created >= 0 else { throw BackupError("cannot create \(destination): \(String(cString: strerror(errno)))") }
        close(created)
        do {
            let from = try Database(path: source, mode: .readOnly, busyTimeout: busyTimeout)
            // A backup of a non-database file fails late and vaguely; ask SQLite first.
            _ = try from.scalar("SELECT count(*) FROM sqlite_schema")
            let to = try Database(path: destination, mode: .readWriteCreate)
            guard let backup = sqlite3_backup_init(to.handle, "main", from.handle, "main") else {
                throw BackupError("cannot start the snapshot of \(source): \(String(cString: sqlite3_errmsg(to.handle)))")
            }
            let deadline = ContinuousClock.now + busyTimeout
            var rc: Int32
            repeat {
                rc = sqlite3_backup_step(backup, -1)
                // BUSY/LOCKED: a writer holds the rollback journal's exclusive lock; wait for it.
                if (rc & 0xff == SQLITE_BUSY || rc & 0xff == SQLITE_LOCKED), ContinuousClock.now < deadline {
                    usleep(20_000)
                    continue
                }
                break
            } while true
            sqlite3_backup_finish(backup)
            guard rc == SQLITE_DONE else {
                throw BackupError("cannot snapshot \(source): \(String(cString: sqlite3_errstr(rc))); the database stayed locked for \(busyTimeout) or is damaged")
            }
            let pageSize = try to.scalar("PRAGMA page_size")
            guard case .integer(let size) = pageSize, size >= 512 else { throw BackupError("cannot read the page size of \(source)") }
            return Int(size)
        } catch let error as BackupError {
            throw error
        } catch {
            throw BackupError("cannot snapshot \(source): \(error)")
        }
    }

    /// Removes a database file and any journal SQLite may have left beside it.
    static func removeWithSideFiles(_ path: String) {
        for suffix in ["", "-journal", "-wal", "-shm"] { unlink(path + suffix) }
    }
}
