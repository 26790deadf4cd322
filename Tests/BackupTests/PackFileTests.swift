import Backup
import Foundation
import Testing
import TestSupport

/// Packs are written by hand (PackFile.swift: entries deflated on every core, a version 2 index
/// made from what the writer knows) and a remote on this machine is pushed to without libgit2's
/// push (LocalPush.swift). Plain git must accept every one of them.
@Suite("Backup: hand-written packs and the push to a path remote", .serialized)
struct PackFileTests {
    @Test("a full backup's packs, here and in the path remote, pass git verify-pack and fsck; each chunk is the blob git hashes for its bytes")
    func handWrittenPacksAreGit() async throws {
        // About 30 MiB: two 16 MiB chunks, deflated on two workers at once.
        let fixture = try Fixture(rows: 300_000)
        try await fixture.usePathRemote()
        let runner = try fixture.runner()
        let first = try await runner.run()
        #expect(first.push.state == .pushed)
        #expect(first.databases.first?.layout == .full)

        for repository in [fixture.repository, fixture.remote] {
            let packs = try FileManager.default.contentsOfDirectory(atPath: repository + "/objects/pack").filter { $0.hasSuffix(".idx") }
            #expect(!packs.isEmpty, "no pack in \(repository)")
            for pack in packs {
                let verify = try await run("/usr/bin/git", ["--git-dir=\(repository)", "verify-pack", "-v", repository + "/objects/pack/" + pack])
                #expect(verify.status == 0, "git verify-pack \(pack) in \(repository): \(verify.stderr)")
            }
            let fsck = try await fixture.git(["fsck", "--strict", "--no-dangling"], in: repository)
            #expect(fsck.status == 0, "git fsck in \(repository): \(fsck.stderr)")
            let leftovers = try FileManager.default.contentsOfDirectory(atPath: repository + "/objects/pack").filter { $0.hasPrefix("tmp_") }
            #expect(leftovers.isEmpty, "temporary files left in \(repository): \(leftovers)")
        }
        // A push copies: the remote, the second copy, keeps its bytes on blocks of its own.
        #expect(LocalFetchTests.sharedPacks(fixture.remote, fixture.repository).isEmpty, "the push linked packs into the remote")
        let branch = BackupPlan.hostName()
        let local = try await fixture.git(["rev-parse", branch])
        let remote = try await fixture.git(["rev-parse", branch], in: fixture.remote)
        #expect(local.stdout == remote.stdout && local.status == 0)

        // Each chunk's id is git's own hash of the bytes at its offset.
        let chunks = try await fixture.git(["ls-tree", "HEAD:db/app/full/"])
        let ids = chunks.stdout.split(separator: "\n").compactMap { $0.split(whereSeparator: { $0 == " " || $0 == "\t" }).dropFirst(2).first.map(String.init) }
        #expect(ids.count == 2, "\(chunks.stdout)")
        let snapshot = fixture.directory + "/snapshot.db"
        let dumped = try await run("/bin/sh", ["-c", "git --git-dir='\(fixture.remote)' cat-file blob \(branch):db/app/full/000000 > '\(snapshot)' && git --git-dir='\(fixture.remote)' cat-file blob \(branch):db/app/full/000001 >> '\(snapshot)'"])
        #expect(dumped.status == 0, "\(dumped.stderr)")
        let bytes = try Data(contentsOf: URL(fileURLWithPath: snapshot))
        let chunkBytes = 16 << 20
        for (index, id) in ids.enumerated() {
            let part = fixture.directory + "/part-\(index)"
            try bytes.subdata(in: index * chunkBytes..<min(bytes.count, (index + 1) * chunkBytes)).write(to: URL(fileURLWithPath: part))
            let hashed = try await run("/usr/bin/git", ["hash-object", part])
            #expect(hashed.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == id)
        }
        let manifest = try await fixture.git(["cat-file", "blob", "\(branch):db/app/manifest.json"], in: fixture.remote)
        #expect(manifest.stdout.contains("\"sha256\" : \"\(try await fixture.sha256(snapshot))\""))

        // The next backup sends the remote only what it lacks: one more pack, small, and git accepts it.
        let before = try FileManager.default.contentsOfDirectory(atPath: fixture.remote + "/objects/pack").filter { $0.hasSuffix(".pack") }
        try fixture.churn(0.01)
        let second = try await runner.run()
        #expect(second.push.state == .pushed && second.push.pushedCommits == 1)
        let after = try FileManager.default.contentsOfDirectory(atPath: fixture.remote + "/objects/pack").filter { $0.hasSuffix(".pack") }
        let added = Set(after).subtracting(before)
        #expect(added.count == 1)
        for pack in added {
            let size = try FileManager.default.attributesOfItem(atPath: fixture.remote + "/objects/pack/" + pack)[.size] as? Int ?? .max
            #expect(size < 1 << 20, "the second push sent \(size) bytes")
        }
        #expect(try await fixture.git(["fsck", "--strict", "--no-dangling"], in: fixture.remote).status == 0)
        let restored = fixture.directory + "/restored.db"
        let restore = try await fixture.opsctl(["restore", "--from-remote", "--to", restored])
        #expect(restore.status == 0, "\(restore.stderr)")
        #expect(try fixture.rows(restored) == fixture.rows(fixture.database))
    }
}
