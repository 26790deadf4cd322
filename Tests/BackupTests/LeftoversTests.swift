import Backup
import Foundation
import Testing
import TestSupport

@Suite("Leftovers of a killed run do not block the next one")
struct LeftoversTests {
    @Test("a FETCH_HEAD.lock left by a fetch killed mid-way is removed, and a restore from the remote succeeds")
    func staleFetchLock() async throws {
        let fixture = try Fixture(rows: 500)
        try await fixture.usePathRemote()
        #expect(try await fixture.runner().run().push.state == .pushed)
        // What a SIGKILL during libgit2's fetch leaves: its lock on FETCH_HEAD.
        #expect(FileManager.default.createFile(atPath: fixture.repository + "/FETCH_HEAD.lock", contents: Data()))
        let copy = fixture.directory + "/copy.db"
        let restored = try await fixture.opsctl(["restore", "--from-remote", "--to", copy])
        #expect(restored.status == 0, "\(restored.stderr)")
        #expect(try fixture.rows(copy) == fixture.rows(fixture.database))
        #expect(!FileManager.default.fileExists(atPath: fixture.repository + "/FETCH_HEAD.lock"))
    }
}
