import Backup
import Foundation
import Testing
import TestSupport

/// A fetch from a path remote copies the remote's stored pack entries (`LocalFetch`) instead of
/// going through libgit2's fetch, which rebuilt and re-indexed a pack: checked with git's own
/// fsck and verify-pack, after a prune rewrote the remote's branch, and against a damaged remote.
@Suite("Backup: fetching from a path remote", .serialized)
struct LocalFetchTests {
    /// A second host's config beside the fixture's: its own repository and state, the same remote,
    /// database and branch (a new machine standing in for this one).
    static func newHost(_ fixture: Fixture) throws -> (config: String, repository: String) {
        let repository = fixture.directory + "/new-host.git"
        let config = fixture.directory + "/new-host.yaml"
        let yaml = try String(contentsOfFile: fixture.configPath, encoding: .utf8)
            .replacingOccurrences(of: "repository: \(fixture.repository)\n", with: "repository: \(repository)\n")
            .replacingOccurrences(of: "state_dir: \(fixture.stateDirectory)\n", with: "state_dir: \(fixture.directory)/new-host-state\n")
        try yaml.write(toFile: config, atomically: true, encoding: .utf8)
        return (config, repository)
    }

    /// Every whole (non-delta) entry of the packs in `gitDirectory`: its id and its size in the pack.
    static func storedSizes(_ fixture: Fixture, in gitDirectory: String) async throws -> [String: String] {
        let packs = try FileManager.default.contentsOfDirectory(atPath: gitDirectory + "/objects/pack").filter { $0.hasSuffix(".idx") }
        var sizes: [String: String] = [:]
        for pack in packs {
            let listing = try await fixture.git(["verify-pack", "-v", gitDirectory + "/objects/pack/" + pack], in: gitDirectory)
            #expect(listing.status == 0, "verify-pack \(pack): \(listing.stderr)")
            for line in listing.stdout.split(separator: "\n") {
                let fields = line.split(separator: " ", omittingEmptySubsequences: true)
                if fields.count == 5, fields[0].count == 40 { sizes[String(fields[0])] = String(fields[3]) }
            }
        }
        return sizes
    }

    /// The packs of `repository` that are the same file (device and inode) as one of `other`'s.
    static func sharedPacks(_ repository: String, _ other: String) -> [String] {
        func inodes(_ gitDirectory: String) -> [String: String] {
            let names = ((try? FileManager.default.contentsOfDirectory(atPath: gitDirectory + "/objects/pack")) ?? []).filter { $0.hasSuffix(".pack") }
            return Dictionary(uniqueKeysWithValues: names.map { name in
                var info = stat()
                stat(gitDirectory + "/objects/pack/" + name, &info)
                return ("\(info.st_dev):\(info.st_ino)", name)
            })
        }
        let theirs = inodes(other)
        return inodes(repository).filter { theirs[$0.key] != nil }.map(\.value)
    }

    @Test("a remote on another file system (tmpfs) is copied, not linked: the restore on an empty state gives the same rows and git fsck accepts both sides")
    func remoteOnAnotherFileSystem() async throws {
        let fixture = try Fixture()
        let elsewhere = "/dev/shm/opsd-test-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: elsewhere, withIntermediateDirectories: false)
        defer { try? FileManager.default.removeItem(atPath: elsewhere) }
        let remote = elsewhere + "/remote.git"
        #expect(try await run("/usr/bin/git", ["init", "--quiet", "--bare", remote]).status == 0)
        try fixture.writeConfig(remote: "    url: \(remote)\n")
        #expect(try await fixture.runner().run().push.state == .pushed)
        let rows = try fixture.rows(fixture.database)
        let host = try Self.newHost(fixture)
        let copy = fixture.directory + "/copy.db"
        let restore = try await run("opsctl", ["restore", "--from-remote", "--to", copy, "--config", host.config])
        #expect(restore.status == 0, "\(restore.stderr)")
        #expect(try fixture.rows(copy) == rows)
        #expect(Self.sharedPacks(host.repository, remote).isEmpty)
        for repository in [host.repository, remote] {
            let fsck = try await fixture.git(["fsck", "--strict", "--no-dangling"], in: repository)
            #expect(fsck.status == 0, "git fsck in \(repository): \(fsck.stderr)")
        }
    }

    @Test("a remote pack another user owns is copied, not linked (they could change a shared file): the restore on an empty state still gives the same rows")
    func foreignPackIsCopied() async throws {
        let fixture = try Fixture()
        try await fixture.usePathRemote()
        #expect(try await fixture.runner().run().push.state == .pushed)
        let rows = try fixture.rows(fixture.database)
        let packs = try FileManager.default.contentsOfDirectory(atPath: fixture.remote + "/objects/pack").filter { $0.hasSuffix(".pack") }
        #expect(!packs.isEmpty)
        for pack in packs { #expect(chown(fixture.remote + "/objects/pack/" + pack, 65534, 65534) == 0) }
        let host = try Self.newHost(fixture)
        let copy = fixture.directory + "/copy.db"
        let restore = try await run("opsctl", ["restore", "--from-remote", "--to", copy, "--config", host.config])
        #expect(restore.status == 0, "\(restore.stderr)")
        #expect(try fixture.rows(copy) == rows)
        #expect(Self.sharedPacks(host.repository, fixture.remote).isEmpty, "a pack of another user's was linked")
        let fsck = try await fixture.git(["fsck", "--strict", "--no-dangling"], in: host.repository)
        #expect(fsck.status == 0, "\(fsck.stderr)")
    }

    @Test("a restore on an empty state from a path remote gives the same rows, git fsck accepts the new repository, and the chunks arrive as the remote stores them")
    func restoreOnAnEmptyState() async throws {
        let fixture = try Fixture()
        try await fixture.usePathRemote()
        #expect(try await fixture.runner().run().push.state == .pushed)
        try fixture.churn(0.01)
        #expect(try await fixture.runner().run().push.state == .pushed)
        let rows = try fixture.rows(fixture.database)
        let host = try Self.newHost(fixture)
        // A branch that is not opsd's, with a merge: both parents' histories come along.
        let merge = try await run("/bin/sh", ["-c", """
            export GIT_DIR='\(fixture.remote)' GIT_AUTHOR_NAME=x GIT_AUTHOR_EMAIL=x@x GIT_COMMITTER_NAME=x GIT_COMMITTER_EMAIL=x@x
            a=$(git commit-tree "$(printf '100644 blob %s\\ta\\n' "$(echo a | git hash-object -w --stdin)" | git mktree)" -m a)
            b=$(git commit-tree "$(printf '100644 blob %s\\tb\\n' "$(echo b | git hash-object -w --stdin)" | git mktree)" -m b)
            git update-ref refs/heads/notes "$(git commit-tree "$(git mktree </dev/null)" -p "$a" -p "$b" -m merge)"
            """])
        #expect(merge.status == 0, "\(merge.stderr)")

        try FileManager.default.removeItem(atPath: fixture.database)
        let restore = try await run("opsctl", ["restore", "--from-remote", "--config", host.config])
        #expect(restore.status == 0, "\(restore.stderr)")
        #expect(try fixture.rows(fixture.database) == rows)
        let fsck = try await fixture.git(["fsck", "--strict", "--no-dangling"], in: host.repository)
        #expect(fsck.status == 0, "git fsck on the new host's repository: \(fsck.stderr)")
        let branch = BackupPlan.hostName()
        #expect(try await fixture.git(["rev-list", "--count", "refs/remotes/origin/notes"], in: host.repository).stdout == "3\n")
        let fetched = try await fixture.git(["rev-parse", "refs/remotes/origin/\(branch)"], in: host.repository)
        let remoteTip = try await fixture.git(["rev-parse", "refs/heads/\(branch)"], in: fixture.remote)
        #expect(fetched.status == 0 && fetched.stdout == remoteTip.stdout)
        // Copied, not rebuilt: libgit2's fetch deflated every chunk again at its own level.
        let remoteSizes = try await Self.storedSizes(fixture, in: fixture.remote)
        let localSizes = try await Self.storedSizes(fixture, in: host.repository)
        let common = Set(remoteSizes.keys).intersection(localSizes.keys)
        #expect(common.count == remoteSizes.count, "every object of the remote is here whole")
        #expect(common.filter { remoteSizes[$0] != localSizes[$0] }.isEmpty, "entries stored differently from the remote's")
        // On one file system the remote's packs are linked, not copied: the same files.
        #expect(!Self.sharedPacks(host.repository, fixture.remote).isEmpty, "no pack of the remote was linked")
        // A second fetch finds nothing new and writes no pack.
        let packs = try FileManager.default.contentsOfDirectory(atPath: host.repository + "/objects/pack").sorted()
        #expect(try await run("opsctl", ["restore", "--from-remote", "--config", host.config]).status == 0)
        #expect(try FileManager.default.contentsOfDirectory(atPath: host.repository + "/objects/pack").sorted() == packs)
    }

    @Test("a fetch after a prune force-pushed a rewritten branch takes the new history: the remote-tracking branch follows, fsck passes, the latest backup restores")
    func fetchAfterPrune() async throws {
        let fixture = try await PruneTests.fixture()
        for seed in 1...5 { _ = try await PruneTests.backup(fixture, seed: seed) }
        let host = try Self.newHost(fixture)
        let copy = fixture.directory + "/copy.db"
        #expect(try await run("opsctl", ["restore", "--from-remote", "--to", copy, "--config", host.config]).status == 0)
        let branch = BackupPlan.hostName()
        let before = try await fixture.git(["rev-parse", "refs/remotes/origin/\(branch)"], in: host.repository).stdout

        let pruned = try await fixture.opsctl(["backup", "prune"])
        #expect(pruned.status == 0, "\(pruned.stderr)")
        let remoteTip = try await fixture.git(["rev-parse", "refs/heads/\(branch)"], in: fixture.remote).stdout
        #expect(remoteTip != before, "the prune rewrote the remote's branch")
        _ = try await PruneTests.backup(fixture, seed: 6)
        let rows = try fixture.rows(fixture.database)
        let latest = try await fixture.git(["rev-parse", "refs/heads/\(branch)"], in: fixture.remote).stdout

        try FileManager.default.removeItem(atPath: copy)
        let restore = try await run("opsctl", ["restore", "--from-remote", "--to", copy, "--config", host.config])
        #expect(restore.status == 0, "\(restore.stderr)")
        #expect(try fixture.rows(copy) == rows)
        #expect(try await fixture.git(["rev-parse", "refs/remotes/origin/\(branch)"], in: host.repository).stdout == latest)
        let fsck = try await fixture.git(["fsck", "--strict", "--no-dangling"], in: host.repository)
        #expect(fsck.status == 0, "\(fsck.stderr)")
        let kept = try await fixture.git(["rev-list", "--count", "refs/remotes/origin/\(branch)"], in: host.repository)
        #expect(kept.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == "4", "3 kept by the prune and the one after")
    }

    @Test("a remote whose pack is damaged is refused with a message naming the remote, and nothing is referenced locally")
    func damagedRemote() async throws {
        let fixture = try Fixture()
        try await fixture.usePathRemote()
        #expect(try await fixture.runner().run().push.state == .pushed)
        let packDirectory = fixture.remote + "/objects/pack"
        let pack = try #require(try FileManager.default.contentsOfDirectory(atPath: packDirectory).first { $0.hasSuffix(".pack") })
        // Bytes in the middle of the pack (inside a chunk's deflated data) flipped, as a bad disk would.
        let handle = try #require(FileHandle(forUpdatingAtPath: packDirectory + "/" + pack))
        let size = try handle.seekToEnd()
        try handle.seek(toOffset: size / 2)
        let original = try #require(try handle.read(upToCount: 64))
        try handle.seek(toOffset: size / 2)
        try handle.write(contentsOf: Data(original.map { ~$0 }))
        try handle.close()

        let host = try Self.newHost(fixture)
        let restore = try await run("opsctl", ["restore", "--from-remote", "--to", fixture.directory + "/copy.db", "--config", host.config])
        #expect(restore.status != 0)
        #expect(restore.stderr.contains(fixture.remote) && restore.stderr.contains("damaged"), "\(restore.stderr)")
        #expect(try await fixture.git(["rev-parse", "--verify", "--quiet", "refs/remotes/origin/\(BackupPlan.hostName())"], in: host.repository).status != 0)
        #expect(!FileManager.default.fileExists(atPath: fixture.directory + "/copy.db"))
    }
}
