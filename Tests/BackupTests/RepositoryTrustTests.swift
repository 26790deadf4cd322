import Backup
import Foundation
import Testing
import TestSupport

@Suite("Backup: a repository directory nobody else controls, a lock file opened without following links", .serialized)
struct RepositoryTrustTests {
    @Test("a repository directory others can write is refused, and another user's planted link at the lock does not make root overwrite its target")
    func writableRepositoryRefused() async throws {
        let fixture = try Fixture()
        _ = try await fixture.runner().run()
        let victim = fixture.directory + "/victim"
        try "precious\n".write(toFile: victim, atomically: true, encoding: .utf8)
        #expect(chmod(fixture.repository, 0o777) == 0)
        #expect(unlink(fixture.repository + "/opsd-backup.lock") == 0)
        // Another user plants the link where the lock is opened.
        let plant = try await run("/usr/bin/setpriv", ["--reuid=65534", "--regid=65534", "--clear-groups", "/bin/ln", "-s", victim, fixture.repository + "/opsd-backup.lock"])
        #expect(plant.status == 0, "\(plant.stderr)")
        try fixture.churn(0.01)
        let backup = try await fixture.opsctl(["backup"])
        #expect(backup.status == 1)
        #expect(backup.stderr.contains("the backup repository \(fixture.repository)"), "\(backup.stderr)")
        #expect(try String(contentsOfFile: victim, encoding: .utf8) == "precious\n")
        let restore = try await fixture.opsctl(["restore", "--to", fixture.directory + "/x.db"])
        #expect(restore.status == 1, "a restore is refused the same way")
        #expect(try String(contentsOfFile: victim, encoding: .utf8) == "precious\n")
    }

    @Test("a link at the lock's name in a trusted repository is refused, never followed")
    func linkedLockRefused() async throws {
        let fixture = try Fixture()
        _ = try await fixture.runner().run()
        let victim = fixture.directory + "/victim"
        try "precious\n".write(toFile: victim, atomically: true, encoding: .utf8)
        #expect(unlink(fixture.repository + "/opsd-backup.lock") == 0)
        #expect(symlink(victim, fixture.repository + "/opsd-backup.lock") == 0)
        let backup = try await fixture.opsctl(["backup"])
        #expect(backup.status == 1)
        #expect(backup.stderr.contains("the backup lock file \(fixture.repository)/opsd-backup.lock is a symbolic link"), "\(backup.stderr)")
        #expect(try String(contentsOfFile: victim, encoding: .utf8) == "precious\n")
    }

    @Test("a new repository is created 0700")
    func newRepositoryIsPrivate() async throws {
        let fixture = try Fixture()
        _ = try await fixture.runner().run()
        var info = stat()
        #expect(stat(fixture.repository, &info) == 0)
        #expect(info.st_mode & 0o777 == 0o700)
    }
}
