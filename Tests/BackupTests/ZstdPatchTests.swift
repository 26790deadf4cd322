import Backup
import Foundation
import StateStore
import Testing
import TestSupport

/// Deltas after a VACUUM: a zstd patch against the previous version (what `zstd --patch-from`
/// makes) instead of page records that are nearly the whole file; restored by opsctl and by hand.
@Suite("Zstd patches: small deltas when content moves across pages")
struct ZstdPatchTests {
    /// 1 % of rows updated, 1 % deleted, then VACUUM: every page after the first deleted row moves.
    static func vacuumRound(_ fixture: Fixture, seed: Int) throws {
        try fixture.churn(0.01, seed: seed)
        let db = try Database(path: fixture.database)
        let count = Int(try db.scalar("SELECT max(id) FROM items").sqlValue.intValue)
        var generator = SeededGenerator(seed: UInt64(seed) &+ 1000)
        try db.transaction {
            for _ in 0..<max(1, count / 100) {
                try db.run("DELETE FROM items WHERE id = ?", Int.random(in: 1...count, using: &generator))
            }
        }
        try db.execute("VACUUM")
    }

    /// A fixture whose rows also carry 48 random bytes, as real data mostly does: the fixture's
    /// repeated labels deflate to a fraction of their size, which would make the full snapshot so
    /// small that the chain's other limit (deltas costing half of it) restarts it first.
    static func incompressibleFixture() throws -> Fixture {
        let fixture = try Fixture()
        let db = try Database(path: fixture.database)
        try db.execute("ALTER TABLE items ADD COLUMN noise BLOB; UPDATE items SET noise = randomblob(48); PRAGMA wal_checkpoint(TRUNCATE)")
        return fixture
    }

    /// The manifest of database `app` at `commit`, as JSON.
    static func manifest(_ fixture: Fixture, at commit: String = "HEAD") async throws -> [String: Any] {
        let shown = try await fixture.git(["cat-file", "blob", "\(commit):db/app/manifest.json"])
        #expect(shown.status == 0, "\(shown.stderr)")
        return try #require(try JSONSerialization.jsonObject(with: Data(shown.stdout.utf8)) as? [String: Any])
    }

    static func lastDelta(_ manifest: [String: Any]) throws -> [String: Any] {
        let deltas = try #require(manifest["deltas"] as? [[String: Any]])
        return try #require(deltas.last)
    }

    @Test("a VACUUM round stores a zstd patch of a small fraction of the file, and opsctl restores it byte for byte")
    func vacuumRoundIsAPatch() async throws {
        let fixture = try Fixture()
        let runner = try fixture.runner()
        _ = try await runner.run()
        try Self.vacuumRound(fixture, seed: 3)
        let round = try await runner.run()
        let outcome = try #require(round.databases.first)
        #expect(outcome.layout == .delta)
        let manifest = try await Self.manifest(fixture)
        let delta = try Self.lastDelta(manifest)
        #expect(delta["encoding"] as? String == "zstd-patch")
        let stored = try #require(delta["stored_bytes"] as? Int)
        // Page records would be nearly every byte of the file here; the patch is a few percent.
        #expect(stored * 10 < outcome.size, "the patch took \(stored) bytes of a \(outcome.size)-byte file")

        let copy = fixture.directory + "/copy.db"
        let restored = try await fixture.opsctl(["restore", "--to", copy])
        #expect(restored.status == 0, "\(restored.stderr)")
        #expect(try await fixture.sha256(copy) == manifest["sha256"] as? String)
        #expect(try fixture.rows(copy) == fixture.rows(fixture.database))
    }

    @Test("a chain holds at most 8 zstd patches: the ninth VACUUM round starts a new full snapshot, and the last patch restores")
    func patchesPerChainAreBounded() async throws {
        let fixture = try Self.incompressibleFixture()
        let runner = try fixture.runner()
        _ = try await runner.run()
        var layouts: [String] = []
        for round in 1...9 {
            try Self.vacuumRound(fixture, seed: 100 + round)
            let outcome = try #require(try await runner.run().databases.first)
            layouts.append(outcome.layout.rawValue)
            if round == 8 {
                let deltas = try #require(try await Self.manifest(fixture)["deltas"] as? [[String: Any]])
                #expect(deltas.count == 8 && deltas.allSatisfy { $0["encoding"] as? String == "zstd-patch" }, "\(deltas)")
                // The other rule (deltas costing half the full snapshot) is far off: the cap is what restarts the chain.
                let full = try #require(try await Self.manifest(fixture)["full"] as? [String: Any])
                let patches = deltas.compactMap { $0["stored_bytes"] as? Int }.reduce(0, +)
                #expect(patches * 2 < (full["stored_bytes"] as? Int ?? 0), "8 patches took \(patches) bytes, the full snapshot \(full)")
                let copy = fixture.directory + "/eighth.db"
                #expect(try await fixture.opsctl(["restore", "--to", copy]).status == 0)
                #expect(try fixture.rows(copy) == fixture.rows(fixture.database))
            }
        }
        #expect(layouts == Array(repeating: "delta", count: 8) + ["full"], "\(layouts)")
    }

    @Test("ordinary churn (1 % of rows) still stores page records, with no encoding in the manifest")
    func ordinaryChurnKeepsPageRecords() async throws {
        let fixture = try Fixture()
        let runner = try fixture.runner()
        _ = try await runner.run()
        try fixture.churn(0.01, seed: 5)
        #expect(try await runner.run().databases.first?.layout == .delta)
        let delta = try Self.lastDelta(try await Self.manifest(fixture))
        #expect(delta["encoding"] == nil, "\(delta)")
    }

    @Test("the by-hand restore of the format document (git cat-file, zstd --patch-from) rebuilds a patch, and its Python script a mixed chain")
    func byHandRestore() async throws {
        let fixture = try Fixture()
        let runner = try fixture.runner()
        _ = try await runner.run()
        try Self.vacuumRound(fixture, seed: 11)
        _ = try await runner.run()
        let manifest = try await Self.manifest(fixture)
        let delta = try Self.lastDelta(manifest)
        #expect(delta["encoding"] as? String == "zstd-patch")
        let parts = try #require(delta["parts"] as? [String])

        // The document's shell lines, with the parts this manifest names.
        let script = """
            set -e
            cd '\(fixture.directory)'
            export GIT_DIR='\(fixture.repository)'
            for c in $(git ls-tree --name-only HEAD:db/app/full/); do git cat-file blob HEAD:db/app/full/$c; done > previous.db
            for p in \(parts.joined(separator: " ")); do git cat-file blob HEAD:db/app/$p; done | zstd -d -q --long=31 --patch-from=previous.db -o by-hand.db
            """
        let shell = try await run("/bin/sh", ["-c", script])
        #expect(shell.status == 0, "\(shell.stderr)")
        #expect(try await fixture.sha256(fixture.directory + "/by-hand.db") == delta["sha256"] as? String)

        // Records after the patch, then the document's Python script over the whole chain.
        try fixture.churn(0.01, seed: 12)
        _ = try await runner.run()
        #expect(try Self.lastDelta(try await Self.manifest(fixture))["encoding"] == nil)
        let document = try String(contentsOfFile: repositoryRoot + "/docs/backup-format.md", encoding: .utf8)
        let start = try #require(document.range(of: "```python\n"))
        let end = try #require(document.range(of: "```", range: start.upperBound..<document.endIndex))
        let python = fixture.directory + "/restore.py"
        try String(document[start.upperBound..<end.lowerBound]).write(toFile: python, atomically: true, encoding: .utf8)
        let target = fixture.directory + "/by-script.db"
        let result = try await run("/usr/bin/python3", [python, fixture.repository, "HEAD", "app", target])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(try fixture.rows(target) == fixture.rows(fixture.database))
    }

    @Test("a chain mixing page records and zstd patches restores every commit")
    func mixedChain() async throws {
        let fixture = try Self.incompressibleFixture()
        let runner = try fixture.runner()
        var commits: [(commit: String, rows: [Row])] = []
        var encodings: [String] = []
        for step in 0..<5 {
            switch step {
            case 0: break
            case 1, 3: try fixture.churn(0.01, seed: 20 + step)
            default: try Self.vacuumRound(fixture, seed: 20 + step)
            }
            let commit = try #require(try await runner.run().commit)
            commits.append((commit, try fixture.rows(fixture.database)))
            if step > 0 { encodings.append(try Self.lastDelta(try await Self.manifest(fixture))["encoding"] as? String ?? "records") }
        }
        #expect(encodings == ["records", "zstd-patch", "records", "zstd-patch"])
        for (index, backup) in commits.enumerated() {
            let target = fixture.directory + "/at-\(index).db"
            let restored = try await fixture.opsctl(["restore", "--at", backup.commit, "--to", target])
            #expect(restored.status == 0, "commit \(index): \(restored.stderr)")
            #expect(try fixture.rows(target) == backup.rows, "commit \(index)")
        }
    }

    @Test("a forged patch delta is refused before anything is written", arguments: ["huge", "corrupt", "unknown"])
    func forgedPatchRefused(kind: String) async throws {
        let fixture = try Fixture()
        let runner = try fixture.runner()
        _ = try await runner.run()
        try Self.vacuumRound(fixture, seed: 31)
        _ = try await runner.run()
        let delta = try Self.lastDelta(try await Self.manifest(fixture))
        #expect(delta["encoding"] as? String == "zstd-patch")
        let live = try await fixture.sha256(fixture.database)
        let expected: String
        switch kind {
        case "huge":
            let tib = 1 << 40
            try await forge(fixture, copying: "app", as: "app", edit: "m['size'] = \(tib); m['deltas'][-1]['size'] = \(tib)")
            expected = "claims \(tib) bytes, but its"
        case "unknown":
            try await forge(fixture, copying: "app", as: "app", edit: "m['deltas'][-1]['encoding'] = 'vcdiff'")
            expected = "is stored as 'vcdiff', an encoding this opsd does not know"
        default:
            let part = try #require((delta["parts"] as? [String])?.last)
            try await Self.corrupt(fixture, part: part)
            expected = "cannot be decoded against the previous version"
        }
        let restore = try await fixture.opsctl(["restore", "--force"])
        #expect(restore.status == 1)
        #expect(restore.stderr.contains(expected), "\(restore.stderr)")
        #expect(try await fixture.sha256(fixture.database) == live)
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: fixture.directory).filter { $0.contains("restore") }
        #expect(leftovers.isEmpty, "\(leftovers)")
        let elsewhere = try await fixture.opsctl(["restore", "--to", fixture.directory + "/x.db"])
        #expect(elsewhere.status == 1)
        #expect(!FileManager.default.fileExists(atPath: fixture.directory + "/x.db"))
    }

    /// Writes a commit on top of the branch whose `db/app/<part>` has bytes flipped in the middle
    /// of its zstd blocks (past the frame header, so the declared size still matches).
    static func corrupt(_ fixture: Fixture, part: String) async throws {
        let script = """
            import os, subprocess, sys
            repo, part = sys.argv[1:3]
            env = dict(os.environ, GIT_AUTHOR_NAME="x", GIT_AUTHOR_EMAIL="x@x", GIT_COMMITTER_NAME="x", GIT_COMMITTER_EMAIL="x@x")
            def git(*args, data=None):
                return subprocess.run(["git", "--git-dir", repo, *args], input=data, check=True, capture_output=True, env=env).stdout
            data = bytearray(git("cat-file", "blob", f"HEAD:db/app/{part}"))
            for i in range(len(data) // 2, min(len(data) - 8, len(data) // 2 + 64)):
                data[i] ^= 0x5a
            blob = git("hash-object", "-w", "--stdin", data=bytes(data)).decode().strip()
            name = part.split("/")[1]
            def replace(tree, entry, kind, oid):
                lines = [l for l in git("ls-tree", tree).decode().splitlines() if not l.endswith("\\t" + entry)]
                mode = "040000" if kind == "tree" else "100644"
                return git("mktree", data=("\\n".join(lines + [f"{mode} {kind} {oid}\\t{entry}"]) + "\\n").encode()).decode().strip()
            delta = replace("HEAD:db/app/delta", name, "blob", blob)
            app = replace("HEAD:db/app", "delta", "tree", delta)
            db = replace("HEAD:db", "app", "tree", app)
            root = replace("HEAD", "db", "tree", db)
            commit = git("commit-tree", root, "-p", "HEAD", "-m", "corrupted").decode().strip()
            git("update-ref", git("symbolic-ref", "HEAD").decode().strip(), commit)
            """
        let result = try await run("/usr/bin/python3", ["-c", script, fixture.repository, part])
        #expect(result.status == 0, "corrupting the patch: \(result.stderr)")
    }
}
