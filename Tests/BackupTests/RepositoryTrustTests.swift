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

    @Test("root restores and backs up from the repository opsd's user keeps; another user's repository stays refused", .enabled(if: getuid() == 0, "needs root to hand the repository to another user"))
    func rootTrustsOpsdsUser() async throws {
        let fixture = try Fixture()
        _ = try await fixture.runner().run()
        // A repository owned by some user, as /var/lib/ops/backup.git belongs to ops under the unit.
        let chown = try await run("/bin/chown", ["-R", "65534:65534", fixture.repository])
        #expect(chown.status == 0, "\(chown.stderr)")
        // While opsd's state directory is root's, that user is a stranger to root: refused.
        let refused = try await fixture.opsctl(["restore", "--to", fixture.directory + "/refused.db"])
        #expect(refused.status == 1)
        #expect(refused.stderr.contains("is owned by uid 65534"), "\(refused.stderr)")
        // Once the state directory is that user's too, the user is opsd's: root may restore.
        #expect(try await run("/bin/chown", ["-R", "65534:65534", fixture.stateDirectory]).status == 0)
        #expect(chmod(fixture.stateDirectory, 0o750) == 0)
        let restore = try await fixture.opsctl(["restore", "--to", fixture.directory + "/restored.db"])
        #expect(restore.status == 0, "\(restore.stderr)")
        #expect(try fixture.rows(fixture.directory + "/restored.db") == fixture.rows(fixture.database))
    }

    @Test("a configured database path that is a symbolic link is restored where it leads, keeping that file's mode; the link stays")
    func symlinkedDatabase() async throws {
        let fixture = try Fixture()
        _ = try await fixture.runner().run()
        let backedUp = try fixture.rows(fixture.database)
        try fixture.churn(0.05)
        // A release layout: app.db -> shared/app.db.
        let shared = fixture.directory + "/shared"
        #expect(mkdir(shared, 0o755) == 0)
        #expect(rename(fixture.database, shared + "/app.db") == 0)
        #expect(chmod(shared + "/app.db", 0o640) == 0)
        #expect(symlink(shared + "/app.db", fixture.database) == 0)
        let restore = try await fixture.opsctl(["restore"])
        #expect(restore.status == 0, "\(restore.stderr)")
        var link = stat()
        #expect(lstat(fixture.database, &link) == 0)
        #expect(link.st_mode & S_IFMT == S_IFLNK, "the link was replaced by a file")
        var real = stat()
        #expect(stat(shared + "/app.db", &real) == 0)
        #expect(real.st_mode & 0o7777 == 0o640)
        #expect(try fixture.rows(shared + "/app.db") == backedUp)
    }
}
