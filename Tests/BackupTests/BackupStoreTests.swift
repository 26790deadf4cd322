import Backup
import Foundation
import OpsAPI
import OpsConfig
import StateStore
import Testing
import TestSupport

@Suite("Backup: snapshot, delta storage and the git repository")
struct BackupStoreTests {
    @Test("a backup stores a full snapshot, then only changed pages; no commit when nothing changed; git reads every commit")
    func growsByWhatChanged() async throws {
        let fixture = try Fixture()
        let runner = try fixture.runner()

        let first = try await runner.run()
        let firstCommit = try #require(first.commit)
        #expect(first.databases.first?.layout == .full)
        #expect(first.fileCount == 1, "app.yaml only: app.key is excluded by *.key")

        let unchanged = try await runner.run()
        #expect(unchanged.commit == nil)
        #expect(unchanged.databases.first?.layout == .unchanged)

        try fixture.churn(0.01)
        let second = try await runner.run()
        let database = try #require(second.databases.first)
        #expect(second.commit != nil)
        #expect(database.layout == .delta)
        #expect(database.pagesChanged > 0 && database.pagesChanged < database.pageCount)
        // 1 % of rows changed (each growing by a byte, so cells move): the delta must be a small
        // fraction of the file, and far less than the changed pages themselves.
        #expect(database.storedBytes * 20 < database.size, "delta stored \(database.storedBytes) bytes for a \(database.size)-byte database")
        #expect(database.storedBytes * 8 < database.pagesChanged * 4096, "delta stored \(database.storedBytes) bytes for \(database.pagesChanged) changed pages")

        let fsck = try await fixture.git(["fsck", "--strict"])
        #expect(fsck.status == 0, "git fsck: \(fsck.stderr)")
        let log = try await fixture.git(["log", "--format=%an <%ae>|%s"])
        let lines = log.stdout.split(separator: "\n")
        #expect(lines.count == 2)
        #expect(lines.allSatisfy { $0.hasPrefix("opsd <opsd@\(BackupPlan.hostName())>|backup: app ") })
        // No loose objects: everything a backup writes goes into packs.
        let loose = try FileManager.default.contentsOfDirectory(atPath: fixture.repository + "/objects").filter { $0.count == 2 }
        #expect(loose.isEmpty, "loose object directories: \(loose)")
        // The excluded key file never reaches the repository.
        let tree = try await fixture.git(["ls-tree", "-r", "--name-only", "HEAD"])
        #expect(tree.stdout.contains("etc/app.yaml"))
        #expect(!tree.stdout.contains("app.key"))
        _ = firstCommit
    }

    @Test("the full snapshot restores by hand: git cat-file of each chunk, concatenated, is the database")
    func fullSnapshotRestoresWithGitAndCat() async throws {
        let fixture = try Fixture()
        let outcome = try await fixture.runner().run()
        #expect(outcome.databases.first?.layout == .full)
        let chunks = try await fixture.git(["ls-tree", "--name-only", "HEAD:db/app/full/"])
        let names = chunks.stdout.split(separator: "\n").map(String.init)
        #expect(!names.isEmpty)
        var bytes = Data()
        for name in names {
            let blob = try await run("/bin/sh", ["-c", "git --git-dir='\(fixture.repository)' cat-file blob HEAD:db/app/full/\(name) | base64 -w0"])
            bytes.append(try #require(Data(base64Encoded: blob.stdout.trimmingCharacters(in: .whitespacesAndNewlines))))
        }
        let manual = fixture.directory + "/manual.db"
        try bytes.write(to: URL(fileURLWithPath: manual))
        let manifest = try await fixture.git(["cat-file", "blob", "HEAD:db/app/manifest.json"])
        #expect(manifest.stdout.contains("\"sha256\" : \"\(try await fixture.sha256(manual))\""))
        #expect(try fixture.rows(manual) == fixture.rows(fixture.database))
    }

    @Test("a chain of deltas restores every backup exactly, each verified by SHA-256 and integrity_check")
    func everyBackupInTheChainRestores() async throws {
        let fixture = try Fixture()
        let runner = try fixture.runner()
        var expected: [(commit: String, rows: [Row])] = []
        for round in 0..<4 {
            if round > 0 { try fixture.churn(0.02, seed: round) }
            let outcome = try await runner.run()
            expected.append((try #require(outcome.commit), try fixture.rows(fixture.database)))
        }
        for (index, backup) in expected.enumerated() {
            let target = fixture.directory + "/restored-\(index).db"
            let restored = try await runner.restore(RestoreRequest(at: backup.commit, to: target))
            #expect(restored.databases.first?.path == target)
            #expect(try fixture.rows(target) == backup.rows, "backup \(index)")
        }
    }

    @Test("a database that grows and shrinks between backups restores at its exact size")
    func growthAndShrink() async throws {
        let fixture = try Fixture(journal: "delete", rows: 2_000)
        let runner = try fixture.runner()
        _ = try await runner.run()
        let db = try Database(path: fixture.database)
        try db.transaction { for i in 0..<5_000 { try db.run("INSERT INTO items (label, counter) VALUES (?, 1)", "grown \(i)") } }
        let grown = try #require(try await runner.run().commit)
        try db.execute("DELETE FROM items WHERE id > 1000; VACUUM")
        let shrunk = try #require(try await runner.run().commit)
        for (commit, name) in [(grown, "grown"), (shrunk, "shrunk")] {
            let target = fixture.directory + "/\(name).db"
            _ = try await runner.restore(RestoreRequest(at: commit, to: target))
        }
        #expect(try fixture.rows(fixture.directory + "/shrunk.db") == fixture.rows(fixture.database))
        #expect(try fixture.rows(fixture.directory + "/grown.db").count == 7_000)
    }

    @Test("opsctl backup and restore: --config before or after the command, JSON output, help that teaches")
    func commandLine() async throws {
        let fixture = try Fixture()
        let before = try await run("opsctl", ["--config", fixture.configPath, "backup", "--json"])
        #expect(before.status == 0, "\(before.stderr)")
        let outcome = try WireJSON.decoder.decode(BackupOutcome.self, from: Data(before.stdout.utf8))
        #expect(outcome.commit != nil)
        let list = try await run("opsctl", ["backup", "list", "--json", "--config", fixture.configPath])
        let entries = try WireJSON.decoder.decode([BackupEntry].self, from: Data(list.stdout.utf8))
        #expect(entries.map(\.commit) == [outcome.commit])
        let help = try await run("opsctl", ["restore", "--help"])
        #expect(help.status == 0)
        #expect(help.stdout.contains("USAGE: opsctl restore") && help.stdout.contains("--from-remote"))
        let missing = try await run("opsctl", ["--config", fixture.directory + "/nope.yaml", "backup"])
        #expect(missing.status == 1)
        #expect(missing.stderr == "opsctl: \(fixture.directory)/nope.yaml: no such file; pass --config PATH\n")
    }

    @Test("a configuration without backup: is refused with a sentence that says what to add")
    func noBackupSection() throws {
        #expect(throws: BackupError("the configuration has no backup: section; add one with at least backup.repository")) {
            try BackupRunner(configuration: Configuration(), logger: .init(label: "test"))
        }
    }

    @Test("two databases with the same file name are refused before anything is written")
    func nameClash() throws {
        let spec = BackupSpec(repository: "/tmp/x.git", databases: ["/a/app.db", "/b/app.db"])
        #expect(throws: BackupError.self) { try BackupPlan(spec: spec, stateDirectory: "/tmp/state") }
    }
}
