import Backup
import Foundation
import StateStore
import Testing
import TestSupport

/// A restore whose deltas are all page records writes the file in one pass, laying the records
/// over the snapshot's chunks and hashing what it writes (`PageOverlay`, `OrderedDigest`): the
/// restore's own SHA-256 check fails on any byte laid wrong, so each backup restoring proves it.
@Suite("Backup: one-pass restore of page-record deltas", .serialized)
struct OnePassRestoreTests {
    @Test("a chain that grows, shrinks below the snapshot and grows past it again restores every backup byte for byte")
    func growShrinkGrow() async throws {
        let fixture = try Fixture(journal: "delete", rows: 6_000)
        let runner = try fixture.runner()
        var backups: [(commit: String, rows: [Row])] = []
        func backup() async throws {
            let commit = try #require(try await runner.run().commit)
            backups.append((commit, try fixture.rows(fixture.database)))
        }
        try await backup()
        let db = try Database(path: fixture.database)
        // Rows at the end deleted and the file compacted: a truncation below the snapshot's end
        // with few records (the pages before it are rewritten as they were).
        try db.execute("DELETE FROM items WHERE id > 5700; VACUUM")
        try await backup()
        // Growth past the snapshot's end, under a tenth of the file (records, not a zstd patch):
        // the pages between the truncation and the old end come from records on zeros.
        try db.transaction { for i in 0..<500 { try db.run("INSERT INTO items (label, counter) VALUES (?, 1)", "grown \(i) " + String(repeating: "x", count: 60)) } }
        try await backup()
        try fixture.churn(0.01, seed: 7)
        try await backup()

        let deltas = try #require(try await ZstdPatchTests.manifest(fixture)["deltas"] as? [[String: Any]])
        #expect(deltas.count == 3 && deltas.allSatisfy { $0["encoding"] == nil }, "page records only: \(deltas)")
        let sizes = deltas.compactMap { $0["size"] as? Int }
        let full = try #require(try await ZstdPatchTests.manifest(fixture)["full"] as? [String: Any])
        let fullSize = try #require(full["size"] as? Int)
        #expect(sizes.count == 3 && sizes[0] < fullSize && sizes[1] > fullSize, "shrunk then grown past the snapshot: \(fullSize) → \(sizes)")
        for (index, backup) in backups.enumerated() {
            let target = fixture.directory + "/restored-\(index).db"
            let restore = try await fixture.opsctl(["restore", "--at", backup.commit, "--to", target])
            #expect(restore.status == 0, "backup \(index): \(restore.stderr)")
            #expect(try fixture.rows(target) == backup.rows, "backup \(index)")
        }
    }

    @Test("a snapshot of several chunks restores byte for byte from the packs opsctl wrote (inflated on two threads by ISA-L) and after git's gc stored them as deltas (read through libgit2)")
    func chunksInflatedOrReadThroughLibgit2() async throws {
        // Over 16 MiB: two chunks, one per thread, hashed in turn.
        let fixture = try Fixture(rows: 400_000)
        let runner = try fixture.runner()
        _ = try await runner.run()
        try fixture.churn(0.01, seed: 9)
        let commit = try #require(try await runner.run().commit)
        // Compared by SHA-256, not row by row: 400,000 rows read three times kept a thread of the
        // suite's shared pool busy for seconds.
        let sha256 = try #require(try await ZstdPatchTests.manifest(fixture)["sha256"] as? String)
        let chunks = try await fixture.git(["ls-tree", "\(commit):db/app/full/"])
        #expect(chunks.stdout.split(separator: "\n").count == 2, "\(chunks.stdout)")

        let first = fixture.directory + "/from-opsctl-packs.db"
        let restored = try await fixture.opsctl(["restore", "--to", first])
        #expect(restored.status == 0, "\(restored.stderr)")
        #expect(try await fixture.sha256(first) == sha256)

        // git stores the chunks, alike in their repeated labels, as deltas of each other.
        #expect(try await fixture.git(["repack", "-a", "-d", "-f", "--window=2", "--depth=1"]).status == 0)
        let packs = try FileManager.default.contentsOfDirectory(atPath: fixture.repository + "/objects/pack").filter { $0.hasSuffix(".idx") }
        var deltas = 0
        for pack in packs {
            let listed = try await run("/usr/bin/git", ["--git-dir=\(fixture.repository)", "verify-pack", "-v", fixture.repository + "/objects/pack/" + pack])
            // "<id> blob <size> <size in pack> <offset> <depth> <base>": a delta has seven fields.
            deltas += listed.stdout.split(separator: "\n").filter { line in
                let fields = line.split(separator: " ", omittingEmptySubsequences: true)
                return fields.count == 7 && fields[1] == "blob" && (Int(fields[2]) ?? 0) > 1 << 20
            }.count
        }
        #expect(deltas > 0, "git stored no chunk as a delta, so libgit2's reading is not exercised")
        let second = fixture.directory + "/after-git-repack.db"
        let again = try await fixture.opsctl(["restore", "--to", second])
        #expect(again.status == 0, "\(again.stderr)")
        #expect(try await fixture.sha256(second) == sha256)
    }
}
