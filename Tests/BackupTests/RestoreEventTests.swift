import Foundation
import StateStore
import Testing
import TestSupport

/// `opsctl restore` records a `restore` event in opsd's event history, and never fails for it.
@Suite("Restore events")
struct RestoreEventTests {
    /// The events table of the fixture's state database, oldest first.
    func events(_ fixture: Fixture) throws -> [Row] {
        try Database(path: StateDatabase.path(in: fixture.stateDirectory), mode: .readOnly)
            .query("SELECT kind, severity, subject_kind, subject, message, fields FROM events ORDER BY id")
    }

    @Test("a restore in place is a restore event in the history, with the commit and the databases by name")
    func recorded() async throws {
        let fixture = try Fixture(rows: 100)
        let commit = try #require(try await fixture.runner().run().commit)
        let restore = try await fixture.opsctl(["restore"])
        #expect(restore.status == 0, "\(restore.stderr)")
        #expect(restore.stderr.contains("recorded in opsd's event history (opsctl events)"), "\(restore.stderr)")

        let rows = try events(fixture)
        #expect(rows.count == 1)
        let row = try #require(rows.first)
        #expect(row.string(0) == "restore")
        #expect(row.string(1) == "info")
        #expect(row.string(2) == "backup")
        #expect(row.string(3) == "backup")
        #expect(row.string(4)?.hasPrefix("database app restored from backup \(commit.prefix(12)) of ") == true, "\(row.string(4) ?? "")")
        let fields = try JSONDecoder().decode([String: String].self, from: Data((row.string(5) ?? "").utf8))
        #expect(fields == ["commit": String(commit.prefix(12)), "databases": "app", "count": "1", "in_place": "true"])
    }

    @Test("without a state database the restore succeeds, creates none, and its stderr line is the record")
    func noHistory() async throws {
        let fixture = try Fixture(rows: 100)
        _ = try await fixture.runner().run()
        try FileManager.default.removeItem(atPath: fixture.stateDirectory)
        let restore = try await fixture.opsctl(["restore", "--to", fixture.directory + "/copy.db"])
        #expect(restore.status == 0, "\(restore.stderr)")
        #expect(restore.stderr.contains("restored to another path from backup"), "\(restore.stderr)")
        #expect(restore.stderr.contains("opsd's event history does not exist yet"), "\(restore.stderr)")
        #expect(!FileManager.default.fileExists(atPath: fixture.stateDirectory))
    }

    @Test("a state database that cannot be written does not fail the restore")
    func unreachableHistory() async throws {
        let fixture = try Fixture(rows: 100)
        _ = try await fixture.runner().run()
        try FileManager.default.removeItem(atPath: fixture.stateDirectory)
        try FileManager.default.createDirectory(atPath: fixture.stateDirectory, withIntermediateDirectories: true)
        try "this is not a database".write(toFile: StateDatabase.path(in: fixture.stateDirectory), atomically: true, encoding: .utf8)
        let restore = try await fixture.opsctl(["restore", "--to", fixture.directory + "/copy.db"])
        #expect(restore.status == 0, "\(restore.stderr)")
        #expect(restore.stderr.contains("could not be recorded in opsd's event history"), "\(restore.stderr)")
    }
}
