import Backup
import Foundation
import OpsAPI
import Testing
import TestSupport

@Suite("Restore and list: another host's branch (--branch), and the branches there are when one is missing")
struct BranchTests {
    @Test("a new machine lists and restores the old host's backups with --branch; a missing branch names the remote's, then the local ones")
    func anotherHostsBranch() async throws {
        let fixture = try Fixture()
        #expect(try await run("/usr/bin/git", ["init", "--quiet", "--bare", fixture.remote]).status == 0)
        // The old host backs up to its own branch and pushes it.
        try fixture.writeConfig(remote: "    url: \(fixture.remote)\n    branch: old-host\n")
        let backup = try await fixture.runner().run()
        let commit = try #require(backup.commit)
        #expect(backup.push.state == .pushed)
        let backedUp = try fixture.rows(fixture.database)

        // The new machine: no local repository, and its own branch (the host name) by default.
        try FileManager.default.removeItem(atPath: fixture.repository)
        try fixture.writeConfig(remote: "    url: \(fixture.remote)\n")
        let host = BackupPlan.hostName()

        let missing = try await fixture.opsctl(["backup", "list", "--from-remote"])
        #expect(missing.status == 1)
        #expect(missing.stderr.contains(
            "the remote \(fixture.remote) has no branch \(host); its branches are old-host; pass the one to use with --branch (e.g. --branch old-host)"),
            "\(missing.stderr)")

        let listed = try await fixture.opsctl(["backup", "list", "--from-remote", "--branch", "old-host", "--json"])
        #expect(listed.status == 0, "\(listed.stderr)")
        let entries = try WireJSON.decoder.decode([BackupEntry].self, from: Data(listed.stdout.utf8))
        #expect(entries.map(\.commit) == [commit])
        #expect(entries.first?.pushed == true)

        let copy = fixture.directory + "/copy.db"
        let restored = try await fixture.opsctl(["restore", "--from-remote", "--branch", "old-host", "--to", copy])
        #expect(restored.status == 0, "\(restored.stderr)")
        #expect(try fixture.rows(copy) == backedUp)

        // The fetch left the old host's branch here: without --from-remote, a missing branch names it.
        let local = try await fixture.opsctl(["restore", "--branch", "nope", "--to", fixture.directory + "/other.db"])
        #expect(local.status == 1)
        #expect(local.stderr.contains(
            "there is no backup on branch nope in \(fixture.repository); the branches here are old-host; pass the one to use with --branch (e.g. --branch old-host), or --from-remote to look on the remote"),
            "\(local.stderr)")
        #expect(!FileManager.default.fileExists(atPath: fixture.directory + "/other.db"))
        let ownBranch = try await fixture.opsctl(["backup", "list"])
        #expect(ownBranch.status == 1, "this host has no backup yet, but the old host's branch is here: say so rather than list nothing")
        #expect(ownBranch.stderr.contains("no backup on branch \(host) in \(fixture.repository); the branches here are old-host"), "\(ownBranch.stderr)")
        let here = try await fixture.opsctl(["backup", "list", "--branch", "old-host"])
        #expect(here.status == 0, "\(here.stderr)")
        #expect(here.stdout.hasPrefix(String(commit.prefix(12))), "\(here.stdout)")

        let invalid = try await fixture.opsctl(["backup", "list", "--branch", "two..dots"])
        #expect(invalid.status == 1)
        #expect(invalid.stderr.contains("--branch \"two..dots\" is not a valid git branch name"), "\(invalid.stderr)")
    }

    @Test("a branch deleted on the remote is not offered: the fetch prunes what the remote no longer has")
    func deletedRemoteBranchIsNotListed() async throws {
        let fixture = try Fixture(rows: 200)
        #expect(try await run("/usr/bin/git", ["init", "--quiet", "--bare", fixture.remote]).status == 0)
        try fixture.writeConfig(remote: "    url: \(fixture.remote)\n    branch: gone\n")
        _ = try await fixture.runner().run()
        try fixture.writeConfig(remote: "    url: \(fixture.remote)\n    branch: kept\n")
        _ = try await fixture.runner().run()
        try FileManager.default.removeItem(atPath: fixture.repository)
        // A first look fetches both branches; then the remote loses one.
        #expect(try await fixture.opsctl(["backup", "list", "--from-remote", "--branch", "gone"]).status == 0)
        #expect(try await fixture.git(["branch", "-D", "gone"], in: fixture.remote).status == 0)

        let missing = try await fixture.opsctl(["restore", "--from-remote", "--branch", "gone", "--to", fixture.directory + "/x.db"])
        #expect(missing.status == 1)
        #expect(missing.stderr.contains("has no branch gone; its branches are kept; pass the one to use with --branch (e.g. --branch kept)"), "\(missing.stderr)")
    }
}
