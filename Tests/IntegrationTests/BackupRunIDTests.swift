import Foundation
import OpsAPI
import Testing
import TestSupport

@Suite("opsd's scheduled backup reads back its own run")
struct BackupRunIDTests {
    @Test("a companion killed before recording fails the job, though another backup succeeded meanwhile into the same state database")
    func killedCompanionIsAFailure() async throws {
        let scratch = try Scratch()
        let database = "\(scratch.path)/app.db"
        try #require(try await run("/usr/bin/sqlite3", [database, "CREATE TABLE t (x); INSERT INTO t VALUES (1);"]).status == 0)
        let config = try scratch.config(extra: """
            jobs:
              - {name: nightly, schedule: "0 3 * * *", backup: {}}
            backup:
              repository: \(scratch.path)/backup.git
              databases: [\(database)]
            """)
        // The same state directory, another repository (whose lock a paused job does not hold).
        let direct = try scratch.config(extra: """
            backup:
              repository: \(scratch.path)/direct.git
              databases: [\(database)]
            """, name: "direct.yaml")
        // opsd runs the companion found beside its own executable: here, the test kit's, which
        // stops at a backup step (Tests/opsctl-backup-testkit). Hard links, so /proc/self/exe
        // names this directory; a copy where the scratch directory is on another file system.
        let bin = "\(scratch.path)/bin"
        try FileManager.default.createDirectory(atPath: bin, withIntermediateDirectories: true)
        for (program, name) in [("opsd", "opsd"), ("opsctl-backup-testkit", "opsctl-backup")] {
            do { try FileManager.default.linkItem(atPath: "\(binDirectory)/\(program)", toPath: "\(bin)/\(name)") } catch {
                try FileManager.default.copyItem(atPath: "\(binDirectory)/\(program)", toPath: "\(bin)/\(name)")
            }
        }
        let pauseFile = "\(scratch.path)/paused"
        let daemon = try await Daemon(config: config, scratch: scratch, executable: "\(bin)/opsd", environment: [
            "OPSD_BACKUP_PAUSE_AT": "after-snapshot", "OPSD_BACKUP_PAUSE_FILE": pauseFile,
        ])
        let job = Task { try await run("opsctl", ["jobs", "run", "nightly", "--json", "--config", config]) }
        try #require(await fileAppears(pauseFile), "the scheduled backup never reached its pause point")

        // A backup taken by hand while the scheduled one is under way: it succeeds and is recorded last.
        let manual = try await run("opsctl", ["backup", "--config", direct])
        #expect(manual.status == 0, "\(manual.stderr)")

        let lock = try String(contentsOfFile: "\(scratch.path)/backup.git/opsd-backup.lock", encoding: .utf8)
        let companion = try #require(Int32(lock.trimmingCharacters(in: .whitespacesAndNewlines)))
        #expect(kill(companion, SIGKILL) == 0)

        let result = try await job.value
        let record = try WireJSON.decoder.decode(JobRunStatus.self, from: Data(result.stdout.utf8))
        #expect(record.result == .failed, "\(record.message ?? "")")
        #expect(record.message?.contains("before recording a backup") == true, "\(record.message ?? "")")
        daemon.signal(SIGTERM)
        _ = await daemon.exitStatus()
    }

    /// Waits for `path` to exist, checking after each short wait; false after a minute.
    private func fileAppears(_ path: String) async -> Bool {
        for _ in 0..<1200 {
            if FileManager.default.fileExists(atPath: path) { return true }
            try? await Task.sleep(for: .milliseconds(50))
        }
        return false
    }
}
