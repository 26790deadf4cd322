import Foundation
import OpsAPI
import Testing
import TestSupport

/// Issue 15 item 6 through opsd: a scheduled backup with one failing part is a failed run whose
/// message, event and status name that part, while the rest is committed.
@Suite("opsd's scheduled backup: a partial backup is reported by part")
struct PartialBackupJobTests {
    @Test("a database that is not SQLite: the job fails naming it, backup_failed names it, status shows the backup as partial, the SQLite one is committed")
    func partialScheduledBackup() async throws {
        let scratch = try Scratch()
        let database = "\(scratch.path)/app.db"
        try #require(try await run("/usr/bin/sqlite3", [database, "CREATE TABLE t (x); INSERT INTO t VALUES (1);"]).status == 0)
        let duck = "\(scratch.path)/analytics.duckdb"
        try "not a database at all\n".write(toFile: duck, atomically: true, encoding: .utf8)
        let config = try scratch.config(extra: """
            jobs:
              - {name: nightly, schedule: "0 3 * * *", retries: 0, backup: {}}
            backup:
              repository: \(scratch.path)/backup.git
              databases: [\(database), \(duck)]
            """)
        let daemon = try await Daemon(config: config, scratch: scratch)
        let job = try await run("opsctl", ["jobs", "run", "nightly", "--json", "--config", config])
        let record = try WireJSON.decoder.decode(JobRunStatus.self, from: Data(job.stdout.utf8))
        #expect(record.result == .failed, "\(record.message ?? "")")
        let named = "partial backup (commit "
        #expect(record.message?.contains(named) == true && record.message?.contains("database analytics: \(duck) is not an SQLite database") == true, "\(record.message ?? "")")

        let events = try await run("opsctl", ["events", "--json", "--config", config])
        let failed = events.stdout.split(separator: "\n").filter { $0.contains("\"backup_failed\"") }
        #expect(failed.count == 1 && failed.first?.contains("database analytics: \(duck) is not an SQLite database") == true, "\(events.stdout)")

        let status = try await run("opsctl", ["status", "--json", "--config", config])
        let snapshot = try WireJSON.decoder.decode(StatusReport.self, from: Data(status.stdout.utf8))
        #expect(snapshot.backup?.lastError?.hasPrefix("partial backup: 1 part failed, the rest was backed up: database analytics:") == true, "\(status.stdout)")

        let tree = try await run("/usr/bin/git", ["--git-dir=\(scratch.path)/backup.git", "ls-tree", "--name-only", "HEAD:db"])
        #expect(tree.stdout == "app\n", "\(tree.stdout) \(tree.stderr)")
        daemon.signal(SIGTERM)
        _ = await daemon.exitStatus()
    }
}
