import Backup
import Foundation
import OpsAPI
import Testing
import TestSupport

@Suite("Restore: --dry-run says what would go where; a missing --to directory is made (0700) or named")
struct RestoreTargetTests {
    /// Each entry of `directory` with its size and modification time, to the nanosecond.
    static func listing(_ directory: String) throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: directory).sorted().map { name in
            var info = stat()
            #expect(lstat(directory + "/" + name, &info) == 0)
            return "\(name) \(info.st_size) \(info.st_mtim.tv_sec).\(info.st_mtim.tv_nsec)"
        }
    }

    @Test("--dry-run names the commit, each database's path and size, writes nothing (bytes and mtimes unchanged) and exits 0")
    func dryRun() async throws {
        let fixture = try Fixture(rows: 2_000)
        let commit = try #require(try await fixture.runner().run().commit)
        try fixture.churn(0.05)
        let live = try await fixture.sha256(fixture.database)
        let before = try Self.listing(fixture.directory)

        let text = try await fixture.opsctl(["restore", "--dry-run"])
        #expect(text.status == 0, "\(text.stderr)")
        #expect(text.stdout.contains("dry run: would restore from backup \(commit.prefix(12))"), "\(text.stdout)")
        #expect(text.stdout.contains("app → \(fixture.database) ("), "\(text.stdout)")
        #expect(text.stdout.contains("replacing the live file (kept as \(fixture.database).pre-restore-<time>)"), "\(text.stdout)")

        let json = try await fixture.opsctl(["restore", "--dry-run", "--json", "--to", fixture.directory + "/new/"])
        #expect(json.status == 0, "\(json.stderr)")
        let outcome = try WireJSON.decoder.decode(RestoreOutcome.self, from: Data(json.stdout.utf8))
        #expect(outcome.dryRun == true)
        #expect(outcome.commit == commit)
        #expect(outcome.createdDirectories == [fixture.directory + "/new"])
        #expect(outcome.databases.map(\.path) == [fixture.directory + "/new/app.db"])
        #expect((outcome.databases.first?.size ?? 0) > 0)

        #expect(try await fixture.sha256(fixture.database) == live)
        #expect(try Self.listing(fixture.directory) == before, "a dry run changes no file, makes no directory")
    }

    @Test("a missing --to directory is made, each level 0700, and said; one that cannot be made is named and nothing is written")
    func missingDirectory() async throws {
        let fixture = try Fixture(rows: 2_000)
        _ = try await fixture.runner().run()
        let backedUp = try fixture.rows(fixture.database)

        let target = fixture.directory + "/restored/deeper/copy.db"
        let made = try await fixture.opsctl(["restore", "--to", target])
        #expect(made.status == 0, "\(made.stderr)")
        #expect(made.stdout.contains("created directory \(fixture.directory)/restored (mode 0700)"), "\(made.stdout)")
        #expect(made.stdout.contains("created directory \(fixture.directory)/restored/deeper (mode 0700)"), "\(made.stdout)")
        for level in ["/restored", "/restored/deeper"] {
            var info = stat()
            #expect(stat(fixture.directory + level, &info) == 0)
            #expect(info.st_mode & 0o7777 == 0o700, "\(level): \(String(info.st_mode & 0o7777, radix: 8))")
        }
        #expect(try fixture.rows(target) == backedUp)

        // A level that exists but is a file.
        try "x".write(toFile: fixture.directory + "/plain", atomically: true, encoding: .utf8)
        let notDirectory = try await fixture.opsctl(["restore", "--to", fixture.directory + "/plain/sub/copy.db"])
        #expect(notDirectory.status == 1)
        #expect(notDirectory.stderr.contains("cannot create the directory \(fixture.directory)/plain/sub for --to: \(fixture.directory)/plain exists and is not a directory; choose another --to"),
            "\(notDirectory.stderr)")

        // A directory the kernel will not make, even for root.
        let refused = try await fixture.opsctl(["restore", "--to", "/proc/opsd-restore-test/copy.db"])
        #expect(refused.status == 1)
        #expect(refused.stderr.contains("cannot create the directory /proc/opsd-restore-test for --to ("), "\(refused.stderr)")
        #expect(refused.stderr.contains("nothing was restored"))
    }
}
