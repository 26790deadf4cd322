import ControlPlane
import Foundation
import Testing
import TestSupport

@Suite("opsctl restore with the database's workers")
struct RestoreWorkersTests {
    /// A worker that holds the database open, as an application does.
    static let holder = #"""
    import sqlite3, sys, time
    db = sqlite3.connect(sys.argv[1], isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("SELECT count(*) FROM t").fetchone()
    print("holding the database", flush=True)
    time.sleep(1000)
    """#

    @Test("workers listed for a database are stopped around the swap and started again; unlisted, the open database is refused")
    func stopsAndStartsWorkers() async throws {
        let scratch = try Scratch()
        let database = "\(scratch.path)/app.db"
        let created = try await run("/usr/bin/sqlite3", [database, "PRAGMA journal_mode=WAL; CREATE TABLE t (x); INSERT INTO t VALUES ('before');"])
        try #require(created.status == 0)
        let script = try scratch.write("holder.py", Self.holder)
        func config(workers: Bool) throws -> String {
            try scratch.config(extra: """
                workers:
                  - {name: app, command: [python3, \(script), \(database)]}
                backup:
                  repository: \(scratch.path)/backup.git
                  databases: [\(workers ? "{path: \(database), workers: [app]}" : database)]
                """)
        }
        let path = try config(workers: false)
        let daemon = try await Daemon(config: path, scratch: scratch)
        _ = try await daemon.logStream.first { $0.message == "holding the database" && $0.fields["worker"] == "app" }
        let backup = try await run("opsctl", ["backup", "--config", path])
        #expect(backup.status == 0, "\(backup.stderr)")
        let changed = try await run("/usr/bin/sqlite3", [database, "INSERT INTO t VALUES ('after');"])
        try #require(changed.status == 0)

        let refused = try await run("opsctl", ["restore", "--config", path])
        #expect(refused.status == 1)
        #expect(refused.stderr.contains("is open in process") && refused.stderr.contains("stop it first"))

        _ = try config(workers: true)
        let reload = try await run("opsctl", ["reload", "--config", path])
        #expect(reload.status == 0)
        let firstPid = try await worker("app", path).pid
        let mark = daemon.logStream.count
        let restored = try await run("opsctl", ["restore", "--config", path])
        #expect(restored.status == 0, "\(restored.stderr)")
        #expect(restored.stderr.contains("opsctl: stopped worker app for the restore"))
        #expect(restored.stderr.contains("opsctl: started worker app again"))
        #expect(restored.stdout.contains("workers stopped for the swap and started again: app"))
        _ = try await daemon.logStream.first(after: mark) { $0.message == "holding the database" && $0.fields["worker"] == "app" }
        #expect(try await worker("app", path).pid != firstPid)
        let rows = try await run("/usr/bin/sqlite3", [database, "SELECT x FROM t ORDER BY rowid"])
        #expect(rows.stdout == "before\n")
        daemon.signal(SIGTERM)
        _ = await daemon.exitStatus()
    }

    @Test("a worker name that does not exist is a config error")
    func unknownWorker() async throws {
        let scratch = try Scratch()
        let path = try scratch.config(extra: """
            backup:
              repository: \(scratch.path)/backup.git
              databases: [{path: app.db, workers: [ghost]}]
            """)
        let check = try await run("opsctl", ["config", "check", path])
        #expect(check.status == 1)
        #expect(check.stdout.contains("\"ghost\" (for \(scratch.path)/app.db) is not a worker under workers:") || check.stderr.contains("\"ghost\" (for \(scratch.path)/app.db) is not a worker under workers:"))
    }
}
