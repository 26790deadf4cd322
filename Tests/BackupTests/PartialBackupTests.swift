import Backup
import BackupRecords
import Foundation
import OpsAPI
import Testing
import TestSupport

/// Issue 15 item 6: one part that fails (a database that is not SQLite, a failing
/// `backup.before` command) fails alone; the others are committed and pushed.
@Suite("Partial backups: a failing part fails alone")
struct PartialBackupTests {
    /// Writes ops.yaml with `databases` and the lines in `extra` under `backup:` (indented by two).
    static func writeConfig(_ fixture: Fixture, databases: [String], files: [String] = [], extra: String = "") throws {
        let yaml = """
            daemon:
              socket: \(fixture.directory)/opsd.sock
              state_dir: \(fixture.stateDirectory)
            backup:
              repository: \(fixture.repository)
              databases: [\(databases.joined(separator: ", "))]
              files: [\(([fixture.directory + "/etc"] + files).joined(separator: ", "))]
              exclude: ["*.key"]
              remote:
                url: \(fixture.remote)
            \(extra)

            """
        try yaml.write(toFile: fixture.configPath, atomically: true, encoding: .utf8)
    }

    @Test("a DuckDB-like file under databases: fails only its own part; the SQLite database is committed, pushed and restores")
    func notSQLite() async throws {
        let fixture = try Fixture(rows: 500)
        #expect(try await run("/usr/bin/git", ["init", "--quiet", "--bare", fixture.remote]).status == 0)
        let duck = fixture.directory + "/analytics.duckdb"
        // What a DuckDB file starts with: a checksum, then the magic "DUCK"; no SQLite header.
        var bytes = Data(repeating: 0, count: 8)
        bytes.append(Data("DUCK".utf8))
        bytes.append(Data(repeating: 7, count: 8192))
        try bytes.write(to: URL(fileURLWithPath: duck))
        try Self.writeConfig(fixture, databases: [fixture.database, duck])

        let check = try await run("opsctl", ["config", "check", fixture.configPath])
        #expect(check.status == 0, "\(check.stderr)")
        #expect(check.stderr.contains("backup.databases[1]"), "\(check.stderr)")
        #expect(check.stderr.contains("is not an SQLite database"), "\(check.stderr)")

        let backup = try await fixture.opsctl(["backup"])
        #expect(backup.status == 3, "\(backup.stdout)\n\(backup.stderr)")
        #expect(backup.stderr.contains(
            "FAILED database analytics: \(duck) is not an SQLite database (no \"SQLite format 3\" header); remove it from backup.databases and export it with a backup.before command into a directory under backup.files"),
            "\(backup.stderr)")
        #expect(backup.stdout.contains("PARTIAL backup: 1 part(s) failed"), "\(backup.stdout)")

        // Committed and pushed: the remote's branch is the local one, and holds db/app only.
        let local = try await fixture.git(["rev-parse", "refs/heads/\(BackupPlan.hostName())"])
        let remote = try await fixture.git(["rev-parse", "refs/heads/\(BackupPlan.hostName())"], in: fixture.remote)
        #expect(local.status == 0 && local.stdout == remote.stdout)
        let tree = try await fixture.git(["ls-tree", "--name-only", "HEAD:db"])
        #expect(tree.stdout.split(separator: "\n") == ["app"], "\(tree.stdout)")

        let list = try await fixture.opsctl(["backup", "list"])
        #expect(list.stdout.contains("PARTIAL, failed: analytics"), "\(list.stdout)")

        let copy = fixture.directory + "/copy.db"
        let restore = try await fixture.opsctl(["restore", "--db", "app", "--to", copy])
        #expect(restore.status == 0, "\(restore.stderr)")
        #expect(try fixture.rows(copy) == fixture.rows(fixture.database))

        // The record says partial, for opsd's job and its backup_failed event.
        let history = try await BackupHistory.open(stateDirectory: fixture.stateDirectory)
        let last = try #require(try await history.summary().lastRun)
        #expect(last.succeeded)
        #expect(last.failedParts?.contains("database analytics: \(duck) is not an SQLite database") == true, "\(last.failedParts ?? "nil")")
    }

    @Test("backup.before: a command's export is in the commit; a failing one and one past before_timeout are failed parts with their status and output tail")
    func beforeCommands() async throws {
        let fixture = try Fixture(rows: 200)
        #expect(try await run("/usr/bin/git", ["init", "--quiet", "--bare", fixture.remote]).status == 0)
        let export = fixture.directory + "/export"
        try Self.writeConfig(fixture, databases: [fixture.database], files: [export], extra: """
              before_timeout: 1s
              before:
                - [/bin/sh, -c, "echo starting; echo 'Catalog Error: no table analytics' >&2; exit 3"]
                - [/bin/sleep, "600"]
                - [/bin/sh, -c, "mkdir -p \(export) && echo 'id,total' > \(export)/sales.csv && echo '1,42' >> \(export)/sales.csv && grep SigBlk /proc/self/status > \(export)/mask"]
            """)
        let backup = try await fixture.opsctl(["backup"])
        #expect(backup.status == 3, "\(backup.stdout)\n\(backup.stderr)")
        #expect(backup.stderr.contains(
            #"FAILED before /bin/sh -c 'echo starting; echo 'Catalog Error: no table analytics' >&2; exit 3': it exited with status 3; its output ended: "starting | Catalog Error: no table analytics""#),
            "\(backup.stderr)")
        #expect(backup.stderr.contains("FAILED before /bin/sleep 600: it ran longer than backup.before_timeout (1s) and was stopped"), "\(backup.stderr)")

        let exported = try await fixture.git(["show", "HEAD:files\(export)/sales.csv"])
        #expect(exported.stdout == "id,total\n1,42\n", "\(exported.stderr)")
        // Started with no signal blocked (a thread of Swift's pool blocks SIGTERM, and a child
        // would inherit that): else the timeout's SIGTERM could not stop a command.
        let mask = try await fixture.git(["show", "HEAD:files\(export)/mask"])
        #expect(mask.stdout == "SigBlk:\t0000000000000000\n", "\(mask.stdout)")
        let remote = try await fixture.git(["show", "\(BackupPlan.hostName()):files\(export)/sales.csv"], in: fixture.remote)
        #expect(remote.stdout == "id,total\n1,42\n", "\(remote.stderr)")
        let copy = fixture.directory + "/copy.db"
        #expect(try await fixture.opsctl(["restore", "--to", copy]).status == 0)
        #expect(try fixture.rows(copy) == fixture.rows(fixture.database))
    }
}
