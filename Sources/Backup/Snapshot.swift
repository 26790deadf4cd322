import CSQLite
import Foundation
import OpsLogging
import StateStore

/// A consistent copy of a live SQLite database, taken with SQLite's online backup API.
///
/// Every page is copied inside one read transaction, opened on the source connection before the
/// first step and held to the last, so the copy is the database as of one commit, whether the
/// application uses WAL or a rollback journal and keeps writing meanwhile: the steps run inside
/// it and never restart (as `sqlite3_backup_step(-1)` in one call would, but in steps of
/// `stepBytes`, after each of which `progress` hears how far it got). Pages are copied verbatim
/// (unlike `VACUUM INTO`, which renumbers them), so two snapshots differ exactly in the pages the
/// application changed.
enum Snapshot {
    /// The bytes copied per step: often enough for a progress line, rarely enough to cost nothing.
    static let stepBytes = 4 << 20

    /// Copies `source` to `destination` (replaced if present); returns SQLite's page size.
    /// `name` labels the progress line.
    static func take(
        of source: String, to destination: String, busyTimeout: Duration = .seconds(30), name: String = "", progress: ProgressReporter? = nil
    ) throws(BackupError) -> Int {
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
            // The read transaction every step runs in (see above). Its first read also asks
            // SQLite whether this is a database at all: a backup of another file fails late and vaguely.
            try from.execute("BEGIN")
            defer { try? from.execute("ROLLBACK") }
            _ = try from.scalar("SELECT count(*) FROM sqlite_schema")
            guard case .integer(let sourcePageSize) = try from.scalar("PRAGMA page_size"), sourcePageSize > 0 else {
                throw BackupError("cannot read the page size of \(source)")
            }
            let pagesPerStep = Int32(max(1, stepBytes / Int(sourcePageSize)))
            let to = try Database(path: destination, mode: .readWriteCreate)
            guard let backup = sqlite3_backup_init(to.handle, "main", from.handle, "main") else {
                throw BackupError("cannot start the snapshot of \(source): \(String(cString: sqlite3_errmsg(to.handle)))")
            }
            let deadline = ContinuousClock.now + busyTimeout
            var rc: Int32
            var begun = false
            repeat {
                rc = sqlite3_backup_step(backup, pagesPerStep)
                // BUSY/LOCKED: a writer holds the rollback journal's exclusive lock; wait for it.
                if (rc & 0xff == SQLITE_BUSY || rc & 0xff == SQLITE_LOCKED), ContinuousClock.now < deadline {
                    usleep(20_000)
                    continue
                }
                if let progress, rc == SQLITE_OK || rc == SQLITE_DONE {
                    let total = Int(sqlite3_backup_pagecount(backup)) * Int(sourcePageSize)
                    if !begun { progress.begin(name.isEmpty ? "snapshot" : "snapshot \(name)", total: total); begun = true }
                    progress.update(done: total - Int(sqlite3_backup_remaining(backup)) * Int(sourcePageSize))
                }
                if rc == SQLITE_OK { continue }
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
