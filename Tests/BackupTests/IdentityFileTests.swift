import Backup
import Foundation
import Testing
import TestSupport

/// `--identity FILE` holds the key to every encrypted backup of a branch: opsctl refuses one that
/// other users can read, as ssh refuses such a private key, before it decrypts anything.
@Suite("Backup identity file permissions")
struct IdentityFileTests {
    @Test("restore and backup list refuse a world-readable or foreign-owned identity file with what to run, restore nothing, and work once it is 0600 and ours")
    func worldReadableIdentityIsRefused() async throws {
        let fixture = try Fixture(rows: 500)
        #expect(try await run("/usr/bin/git", ["init", "--quiet", "--bare", fixture.remote]).status == 0)
        let key = try await EncryptionTests.Key(in: fixture.directory)
        try fixture.writeConfig(remote: "    url: \(fixture.remote)\n")
        let config = try String(contentsOfFile: fixture.configPath, encoding: .utf8) + "  encrypt:\n    recipients: [\(key.recipient)]\n"
        try config.write(toFile: fixture.configPath, atomically: true, encoding: .utf8)
        let backup = try await fixture.runner().run()
        #expect(backup.push.state == .pushed, "\(backup.push.error ?? "")")

        // A new machine: only the remote is left.
        let rows = try fixture.rows(fixture.database)
        try FileManager.default.removeItem(atPath: fixture.repository)
        try FileManager.default.removeItem(atPath: fixture.stateDirectory)
        try FileManager.default.removeItem(atPath: fixture.database)

        #expect(chmod(key.file, 0o644) == 0)
        let refusal = "the identity file \(key.file) has mode 0644, so other users can read or use the key in it; run chmod 600 \(key.file)"
        let refused = try await fixture.opsctl(["restore", "--from-remote", "--identity", key.file])
        #expect(refused.status == 1, "\(refused.stdout)\n\(refused.stderr)")
        #expect(refused.stderr.contains(refusal), "\(refused.stderr)")
        #expect(!FileManager.default.fileExists(atPath: fixture.database), "nothing is restored")
        let listRefused = try await fixture.opsctl(["backup", "list", "--from-remote", "--identity", key.file])
        #expect(listRefused.status != 0)
        #expect(listRefused.stderr.contains(refusal), "\(listRefused.stderr)")

        // 0600 but another user's: that user could swap in a key of their own.
        #expect(chmod(key.file, 0o600) == 0)
        #expect(chown(key.file, 65534, 65534) == 0)
        let foreign = try await fixture.opsctl(["restore", "--from-remote", "--identity", key.file])
        #expect(foreign.status == 1)
        #expect(foreign.stderr.contains("the identity file \(key.file) is owned by uid 65534, who could replace the key in it; run chown \(geteuid()) \(key.file)"), "\(foreign.stderr)")
        #expect(!FileManager.default.fileExists(atPath: fixture.database), "nothing is restored")

        #expect(chown(key.file, geteuid(), getegid()) == 0)
        let restored = try await fixture.opsctl(["restore", "--from-remote", "--identity", key.file])
        #expect(restored.status == 0, "\(restored.stderr)")
        #expect(try fixture.rows(fixture.database) == rows)
        let listed = try await fixture.opsctl(["backup", "list", "--from-remote", "--identity", key.file])
        #expect(listed.status == 0, "\(listed.stderr)")
        #expect(listed.stdout.contains("backup: app"), "\(listed.stdout)")
    }
}
