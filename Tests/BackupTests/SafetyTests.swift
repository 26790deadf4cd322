import Backup
import Foundation
import StateStore
import Testing
import TestSupport

/// opsctl-backup's commands, built with a pause at the step named by OPSD_BACKUP_PAUSE_AT
/// (Tests/opsctl-backup-testkit): the programs themselves read no such variable.
private let testkitCompanion = "\(binDirectory)/opsctl-backup-testkit"

@Suite("Backup safety: one at a time, SIGKILL at any step, a busy writer", .serialized)
struct SafetyTests {
    @Test("SIGKILL at each step leaves a repository git fsck accepts, restoring the previous or the new backup", arguments: ["after-snapshot", "before-reference", "after-reference"])
    func killedAtEachStep(step: String) async throws {
        let fixture = try Fixture()
        _ = try await fixture.runner().run()
        let before = try fixture.rows(fixture.database)
        try fixture.churn(0.02)
        let after = try fixture.rows(fixture.database)

        let pauseFile = fixture.directory + "/paused"
        let backup = try BackgroundProcess(testkitCompanion, ["backup", "--config", fixture.configPath], environment: [
            "OPSD_BACKUP_PAUSE_AT": step, "OPSD_BACKUP_PAUSE_FILE": pauseFile,
        ])
        #expect(try await waitUntil { FileManager.default.fileExists(atPath: pauseFile) }, "never paused: \(backup.log)")
        backup.kill()

        let fsck = try await fixture.git(["fsck", "--strict"])
        #expect(fsck.status == 0, "git fsck after SIGKILL at \(step): \(fsck.stderr)")
        let restored = fixture.directory + "/restored.db"
        let restore = try await fixture.opsctl(["restore", "--to", restored])
        #expect(restore.status == 0, "\(restore.stderr)")
        let rows = try fixture.rows(restored)
        #expect(rows == (step == "after-reference" ? after : before), "SIGKILL at \(step)")

        // The lock died with the process, and the next backup completes from whatever state was left.
        let next = try await fixture.opsctl(["backup"])
        #expect(next.status == 0, "\(next.stderr)")
        try FileManager.default.removeItem(atPath: restored)
        _ = try await fixture.opsctl(["restore", "--to", restored])
        #expect(try fixture.rows(restored) == after)
        #expect(try await fixture.git(["fsck", "--strict"]).status == 0)
    }

    @Test("SIGKILL of a restore just before the swap leaves the live database untouched, and the restore can run again")
    func restoreKilledBeforeSwap() async throws {
        let fixture = try Fixture()
        _ = try await fixture.runner().run()
        let backedUp = try fixture.rows(fixture.database)
        try fixture.churn(0.02)
        let live = try await fixture.sha256(fixture.database)
        let pauseFile = fixture.directory + "/paused"
        let restore = try BackgroundProcess(testkitCompanion, ["restore", "--config", fixture.configPath], environment: [
            "OPSD_BACKUP_PAUSE_AT": "before-swap", "OPSD_BACKUP_PAUSE_FILE": pauseFile,
        ])
        #expect(try await waitUntil { FileManager.default.fileExists(atPath: pauseFile) }, "never paused: \(restore.log)")
        restore.kill()
        #expect(try await fixture.sha256(fixture.database) == live)
        let again = try await fixture.opsctl(["restore"])
        #expect(again.status == 0, "\(again.stderr)")
        #expect(try fixture.rows(fixture.database) == backedUp)
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: fixture.directory).filter { $0.hasSuffix(".tmp") }
        #expect(leftovers.isEmpty, "the killed restore's file is cleaned up: \(leftovers)")
    }

    @Test("a second backup while one runs is refused at once with a clear message")
    func secondBackupRefused() async throws {
        let fixture = try Fixture()
        let pauseFile = fixture.directory + "/paused"
        let first = try BackgroundProcess(testkitCompanion, ["backup", "--config", fixture.configPath], environment: [
            "OPSD_BACKUP_PAUSE_AT": "after-snapshot", "OPSD_BACKUP_PAUSE_FILE": pauseFile,
        ])
        defer { first.kill() }
        #expect(try await waitUntil { FileManager.default.fileExists(atPath: pauseFile) }, "never paused: \(first.log)")
        let second = try await fixture.opsctl(["backup"])
        #expect(second.status == 1)
        #expect(second.stderr.contains("another backup or restore is running on \(fixture.repository) (process \(first.pid)); wait for it to finish"), "\(second.stderr)")
        await #expect(throws: BackupError.self) { try await fixture.runner().run() }
    }

    @Test("a database written by another process throughout the backup restores consistent, with every row committed before the backup began", arguments: ["wal", "delete"])
    func busyWriter(journal: String) async throws {
        let fixture = try Fixture(journal: journal, rows: 5_000)
        // The writer inserts a row and bumps the matching counter in one transaction, so a torn
        // snapshot would show a count that differs from the counter.
        let db = try Database(path: fixture.database)
        try db.execute("CREATE TABLE tally (n INTEGER NOT NULL); INSERT INTO tally VALUES (0); CREATE TABLE log (id INTEGER PRIMARY KEY, payload TEXT)")
        let progress = fixture.directory + "/progress"
        let writer = try BackgroundProcess("/usr/bin/python3", ["-c", """
            import sqlite3, sys, os
            db = sqlite3.connect(sys.argv[1], timeout=30, isolation_level=None)
            n = 0
            while True:
                db.execute('BEGIN IMMEDIATE')
                db.execute('INSERT INTO log (payload) VALUES (?)', (os.urandom(200).hex(),))
                db.execute('UPDATE tally SET n = n + 1')
                db.execute('COMMIT')
                n += 1
                if n % 50 == 0:
                    open(sys.argv[2] + '.tmp', 'w').write(str(n)); os.replace(sys.argv[2] + '.tmp', sys.argv[2])
            """, fixture.database, progress])
        defer { writer.kill() }
        #expect(try await waitUntil { ((try? String(contentsOfFile: progress, encoding: .utf8)).flatMap { Int($0) } ?? 0) >= 200 })
        let committedBefore = try #require(Int(String(contentsOfFile: progress, encoding: .utf8)))
        let outcome = try await fixture.runner().run()
        #expect(outcome.commit != nil)
        let restored = fixture.directory + "/restored.db"
        _ = try await fixture.runner().restore(RestoreRequest(to: restored))
        let copy = try Database(path: restored, mode: .readOnly)
        #expect(try copy.scalar("PRAGMA integrity_check") == .text("ok"))
        let rows = try copy.scalar("SELECT count(*) FROM log").intValue
        let tally = try copy.scalar("SELECT n FROM tally").intValue
        #expect(rows == tally, "the snapshot is one transaction's state")
        #expect(Int(rows) >= committedBefore, "every row committed before the backup began is there")
        let maxID = try copy.scalar("SELECT max(id) FROM log").intValue
        #expect(maxID == rows, "no gaps: a prefix of the writer's commits")
    }
}
