import Backup
import Foundation
import OpsAPI
import StateStore
import Testing
import TestSupport

/// `opsctl backup prune`: the real companion on a real repository and a bare remote, checked with
/// git's own fsck and a restore of every kept backup.
@Suite("Backup: prune by backup.keep", .serialized)
struct PruneTests {
    /// A fixture with a bare remote and `keep: {last: 3}`.
    static func fixture() async throws -> Fixture {
        let fixture = try Fixture(rows: 5_000)
        try await fixture.usePathRemote()
        try (try String(contentsOfFile: fixture.configPath, encoding: .utf8) + "  keep: {last: 3}\n").write(toFile: fixture.configPath, atomically: true, encoding: .utf8)
        return fixture
    }

    /// Takes a backup after changing some rows; returns its tree and the rows it holds.
    static func backup(_ fixture: Fixture, seed: Int) async throws -> (tree: String, rows: [Row]) {
        try fixture.churn(0.01, seed: seed)
        let result = try await fixture.opsctl(["backup"])
        #expect(result.status == 0, "\(result.stderr)")
        return (try await fixture.git(["rev-parse", "HEAD^{tree}"]).stdout.trimmingCharacters(in: .whitespacesAndNewlines), try fixture.rows(fixture.database))
    }

    /// The branch's commits, newest first, with their trees.
    static func branch(_ fixture: Fixture, gitDirectory: String? = nil) async throws -> [(commit: String, tree: String)] {
        try await fixture.git(["log", "--format=%H %T", "HEAD"], in: gitDirectory).stdout.split(separator: "\n").map {
            let parts = $0.split(separator: " ")
            return (String(parts[0]), String(parts[1]))
        }
    }

    /// The remote's copy of this host's branch.
    static func remoteTip(_ fixture: Fixture) async throws -> String {
        let branch = try await fixture.git(["symbolic-ref", "HEAD"]).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        return try await fixture.git(["rev-parse", branch], in: fixture.remote).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// Every backup whose tree is in `expected` is on the branch and restores to its rows.
    static func restoresEvery(_ expected: [String: [Row]], _ fixture: Fixture, _ context: String) async throws {
        let commits = try await branch(fixture)
        for (tree, rows) in expected {
            let commit = try #require(commits.first { $0.tree == tree }?.commit, "\(context): the backup with tree \(tree) is gone")
            let target = fixture.directory + "/restored-\(UUID().uuidString.prefix(6)).db"
            let restore = try await fixture.opsctl(["restore", "--at", commit, "--to", target])
            #expect(restore.status == 0, "\(context): restore of \(commit): \(restore.stderr)")
            #expect(try fixture.rows(target) == rows, "\(context): the restore of \(commit)")
            try FileManager.default.removeItem(atPath: target)
        }
    }

    @Test("prune keeps the newest 3 of 6 (dry run first changes nothing), trees unchanged, every kept backup restores, fsck passes, the remote has the new branch")
    func keepsAndDrops() async throws {
        let fixture = try await Self.fixture()
        var backups: [(tree: String, rows: [Row])] = []
        for seed in 1...6 { backups.append(try await Self.backup(fixture, seed: seed)) }
        let original = try await Self.branch(fixture)
        #expect(original.count == 6)

        let dry = try await fixture.opsctl(["backup", "prune", "--dry-run", "--json"])
        #expect(dry.status == 0, "\(dry.stderr)")
        let planned = try WireJSON.decoder.decode(PruneOutcome.self, from: Data(dry.stdout.utf8))
        #expect(planned.kept.map(\.commit) == original.prefix(3).map(\.commit))
        #expect(planned.kept.allSatisfy { $0.reasons == ["last snapshot"] })
        #expect(planned.dropped.map(\.commit) == original.suffix(3).map(\.commit))
        #expect(try await Self.branch(fixture).map(\.commit) == original.map(\.commit), "a dry run changes nothing")
        let text = try await fixture.opsctl(["backup", "prune", "--dry-run"])
        #expect(text.stdout.contains("would keep 3 backup(s)") && text.stdout.contains("last snapshot") && text.stdout.contains("would drop 3"), "\(text.stdout)")

        let pruned = try await fixture.opsctl(["backup", "prune", "--json"])
        #expect(pruned.status == 0, "\(pruned.stderr)")
        let outcome = try WireJSON.decoder.decode(PruneOutcome.self, from: Data(pruned.stdout.utf8))
        #expect(outcome.push.state == .pushed)
        #expect(outcome.packsAfter == 1)
        let after = try await Self.branch(fixture)
        #expect(after.map(\.tree) == backups.suffix(3).reversed().map(\.tree), "the kept backups' trees are unchanged")
        #expect(after.first?.commit == outcome.tip)
        let fsck = try await fixture.git(["fsck", "--strict", "--no-dangling"])
        #expect(fsck.status == 0, "\(fsck.stderr)")
        for dropped in original.suffix(3) {
            #expect(try await fixture.git(["cat-file", "-e", dropped.commit]).status != 0, "dropped \(dropped.commit) left the local repository")
        }
        try await Self.restoresEvery(Dictionary(uniqueKeysWithValues: backups.suffix(3).map { ($0.tree, $0.rows) }), fixture, "after prune")

        // The remote (a path: nobody runs gc there) has the rewritten branch and, repacked after
        // the forced push, nothing of the dropped backups.
        #expect(try await Self.remoteTip(fixture) == outcome.tip)
        for dropped in original.suffix(3) {
            #expect(try await fixture.git(["cat-file", "-e", dropped.commit], in: fixture.remote).status != 0, "dropped \(dropped.commit) left the remote")
        }
        #expect(try await fixture.git(["fsck", "--strict", "--no-dangling"], in: fixture.remote).status == 0)
        #expect(try await fixture.git(["gc", "--quiet", "--prune=now"], in: fixture.remote).status == 0)
        #expect(try await fixture.git(["fsck", "--strict"], in: fixture.remote).status == 0)
        #expect(try await fixture.git(["cat-file", "-e", original[5].commit], in: fixture.remote).status != 0)

        // Backups continue on the pruned branch and push as usual; a second prune drops the oldest again.
        let next = try await Self.backup(fixture, seed: 7)
        #expect(try await Self.branch(fixture).count == 4)
        let again = try await fixture.opsctl(["backup", "prune"])
        #expect(again.status == 0, "\(again.stderr)")
        #expect(try await Self.branch(fixture).map(\.tree) == [next.tree] + backups.suffix(2).reversed().map(\.tree))
        #expect(try await fixture.git(["fsck", "--strict"]).status == 0)
    }

    @Test("opsd's scheduled backup (the companion with --run-id) prunes by backup.keep after the backup; a backup by hand does not")
    func scheduledPrune() async throws {
        let fixture = try await Self.fixture()
        var trees: [String] = []
        for seed in 1...4 { trees.append(try await Self.backup(fixture, seed: seed).tree) }
        #expect(try await Self.branch(fixture).count == 4, "opsctl backup by hand does not prune")
        try fixture.churn(0.01, seed: 5)
        let scheduled = try await run("\(binDirectory)/opsctl-backup", ["backup", "--config", fixture.configPath, "--run-id", "scheduled-1"])
        #expect(scheduled.status == 0, "\(scheduled.stderr)")
        trees.append(try await fixture.git(["rev-parse", "HEAD^{tree}"]).stdout.trimmingCharacters(in: .whitespacesAndNewlines))
        #expect(try await Self.branch(fixture).map(\.tree) == trees.suffix(3).reversed())
        #expect(try await fixture.git(["fsck", "--strict"]).status == 0)
        #expect(try await Self.remoteTip(fixture) == (try await fixture.git(["rev-parse", "HEAD"]).stdout.trimmingCharacters(in: .whitespacesAndNewlines)))
    }

    @Test("without backup.keep, a scheduled backup compacts once packs pile up past the threshold: a few packs, fsck passes, old and new backups restore")
    func compaction() async throws {
        let fixture = try Fixture(rows: 1_000)
        let runner = try fixture.runner()
        var first: [Row] = []
        var packs = 0
        // Each changed backup writes a pack for the database and one for its trees and commit.
        for seed in 1...40 where packs <= 32 {
            try fixture.churn(0.02, seed: seed)
            _ = try await runner.run()
            if first.isEmpty { first = try fixture.rows(fixture.database) }
            packs = try FileManager.default.contentsOfDirectory(atPath: fixture.repository + "/objects/pack").filter { $0.hasSuffix(".pack") }.count
        }
        #expect(packs > 32)
        let oldest = try await fixture.git(["rev-list", "--max-parents=0", "HEAD"]).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        let commits = try await Self.branch(fixture).count
        try fixture.churn(0.02, seed: 99)
        let scheduled = try await run("\(binDirectory)/opsctl-backup", ["backup", "--config", fixture.configPath, "--run-id", "scheduled-2"])
        #expect(scheduled.status == 0, "\(scheduled.stderr)")
        let after = try FileManager.default.contentsOfDirectory(atPath: fixture.repository + "/objects/pack").filter { $0.hasSuffix(".pack") }
        #expect(after.count <= 3, "the small packs rolled up, the full snapshot's left alone: \(after)")
        #expect(try await Self.branch(fixture).count == commits + 1, "compaction drops no backup")
        #expect(try await fixture.git(["fsck", "--strict"]).status == 0)
        let target = fixture.directory + "/oldest.db"
        #expect(try await fixture.opsctl(["restore", "--at", oldest, "--to", target]).status == 0)
        #expect(try fixture.rows(target) == first)
        let latest = fixture.directory + "/latest.db"
        #expect(try await fixture.opsctl(["restore", "--to", latest]).status == 0)
        #expect(try fixture.rows(latest) == fixture.rows(fixture.database))
    }

    @Test("a prune's repack copies the entries as stored (the kept chunks' stored sizes unchanged), git fsck --strict accepts it, every kept backup restores; after git's own gc (deltas) it repacks too")
    func repackCopiesStoredEntries() async throws {
        let fixture = try await Self.fixture()
        var backups: [(tree: String, rows: [Row])] = []
        for seed in 1...5 { backups.append(try await Self.backup(fixture, seed: seed)) }
        let before = try await LocalFetchTests.storedSizes(fixture, in: fixture.repository)
        let pruned = try await fixture.opsctl(["backup", "prune"])
        #expect(pruned.status == 0, "\(pruned.stderr)")
        let after = try await LocalFetchTests.storedSizes(fixture, in: fixture.repository)
        let big = after.filter { (Int($0.value) ?? 0) > 4096 }
        #expect(!big.isEmpty, "the kept backups have chunks")
        #expect(big.filter { before[$0.key] != $0.value }.isEmpty, "chunks stored again differently: \(big.filter { before[$0.key] != $0.value })")
        #expect(try await fixture.git(["fsck", "--strict", "--no-dangling"]).status == 0)
        try await Self.restoresEvery(Dictionary(uniqueKeysWithValues: backups.suffix(3).map { ($0.tree, $0.rows) }), fixture, "after the copying repack")

        // git's own gc stores deltas, which are not copied but read and stored whole again.
        #expect(try await fixture.git(["gc", "--quiet", "--aggressive", "--prune=now"]).status == 0)
        backups.append(try await Self.backup(fixture, seed: 6))
        let again = try await fixture.opsctl(["backup", "prune"])
        #expect(again.status == 0, "\(again.stderr)")
        let fsck = try await fixture.git(["fsck", "--strict", "--no-dangling"])
        #expect(fsck.status == 0, "\(fsck.stderr)")
        try await Self.restoresEvery(Dictionary(uniqueKeysWithValues: backups.suffix(3).map { ($0.tree, $0.rows) }), fixture, "after a repack of git's deltas")
    }

    @Test("a remote that is a path stays under the pack threshold over 40 backups (its small packs rolled up after a push), git fsck accepts it, and it has every backup")
    func remotePacksStayFew() async throws {
        let fixture = try Fixture(rows: 1_000)
        try await fixture.usePathRemote()
        let runner = try fixture.runner()
        var most = 0
        for seed in 1...40 {
            try fixture.churn(0.02, seed: seed)
            let outcome = try await runner.run()
            #expect(outcome.push.state == .pushed)
            most = max(most, try FileManager.default.contentsOfDirectory(atPath: fixture.remote + "/objects/pack").filter { $0.hasSuffix(".pack") }.count)
        }
        #expect(most <= 32, "the remote held \(most) packs")
        let fsck = try await fixture.git(["fsck", "--strict", "--no-dangling"], in: fixture.remote)
        #expect(fsck.status == 0, "\(fsck.stderr)")
        let branch = try await fixture.git(["symbolic-ref", "HEAD"]).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(try await fixture.git(["rev-list", "--count", branch], in: fixture.remote).stdout.trimmingCharacters(in: .whitespacesAndNewlines) == "40")
        #expect(try await fixture.git(["rev-list", "--objects", "--missing=print", branch], in: fixture.remote).stdout.split(separator: "\n").allSatisfy { !$0.hasPrefix("?") })
    }

    @Test("a commit another host pushed to the same branch is never forced over: the prune is local only, exit 2, and says why")
    func leaseOnTheRemote() async throws {
        let fixture = try await Self.fixture()
        for seed in 1...4 { _ = try await Self.backup(fixture, seed: seed) }
        let branch = try await fixture.git(["symbolic-ref", "--short", "HEAD"]).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        let other = fixture.directory + "/other"
        #expect(try await run("/usr/bin/git", ["clone", "--quiet", "--branch", branch, fixture.remote, other]).status == 0)
        let commit = try await run("/usr/bin/git", ["-C", other, "-c", "user.name=o", "-c", "user.email=o@o", "commit", "--quiet", "--allow-empty", "-m", "another host"])
        #expect(commit.status == 0, "\(commit.stderr)")
        #expect(try await run("/usr/bin/git", ["-C", other, "push", "--quiet", "origin", branch]).status == 0)
        let theirs = try await Self.remoteTip(fixture)

        let result = try await fixture.opsctl(["backup", "prune"])
        #expect(result.status == 2, "\(result.stdout) \(result.stderr)")
        #expect(result.stdout.contains("has commits on \(branch) that this repository does not have"), "\(result.stdout)")
        #expect(try await Self.remoteTip(fixture) == theirs, "the other host's commit is still there")
        #expect(try await Self.branch(fixture).count == 3, "pruned locally")
        #expect(try await fixture.git(["fsck", "--strict"]).status == 0)
    }

    @Test("geometric roll-up: the small packs up to the last one under twice the smaller ones together; a geometric series is left alone")
    func rollUp() {
        let small = (0..<20).map { (name: "d\($0)", size: 1_000 + $0) }
        #expect(Set(GeometricRepack.rollUp(small + [("full", 100_000)])) == Set(small.map(\.name)))
        #expect(GeometricRepack.rollUp([("a", 1), ("b", 10), ("c", 100), ("d", 1000)]).isEmpty)
        #expect(GeometricRepack.rollUp([("a", 5), ("b", 5), ("c", 5)]).count == 3)
    }

    @Test("SIGKILL at 20 random points of a scheduled backup's compaction leaves a repository git fsck accepts that restores its backups, and the next run compacts")
    func compactionKilledAtRandomPoints() async throws {
        let fixture = try Fixture(rows: 1_000)
        let runner = try fixture.runner()
        func packs() throws -> Int {
            ((try? FileManager.default.contentsOfDirectory(atPath: fixture.repository + "/objects/pack")) ?? []).filter { $0.hasSuffix(".pack") }.count
        }
        var generator = SystemRandomNumberGenerator()
        var seed = 0
        var span = Duration.milliseconds(50)
        for round in 0..<21 {
            while try packs() <= 32 {
                seed += 1
                try fixture.churn(0.02, seed: seed)
                _ = try await runner.run()
            }
            let previous = try fixture.rows(fixture.database)  // what the latest backup holds
            seed += 1
            try fixture.churn(0.02, seed: seed)
            let rows = try fixture.rows(fixture.database)
            let companion = try BackgroundProcess("\(binDirectory)/opsctl-backup", ["backup", "--config", fixture.configPath, "--run-id", "compact-\(round)"])
            let started = ContinuousClock.now
            let delay = round == 0 ? nil : Double.random(in: 0...1, using: &generator) * (span / .milliseconds(1))
            if let delay {
                try await Task.sleep(for: .milliseconds(Int(delay)))
                companion.kill()
            } else {
                // Round 0 measures a whole run, so the kills spread over all of one.
                // On a thread of its own: a whole run blocked in waitpid on the cooperative pool
                // (two threads here) held up every other test in the process.
                #expect(await onNewThread { companion.reap() } == 0, "\(companion.log)")
                span = max(ContinuousClock.now - started, .milliseconds(50))
            }
            let context = "round \(round), killed after \(delay.map { "\(Int($0)) ms" } ?? "never")"
            let fsck = try await fixture.git(["fsck", "--strict"])
            #expect(fsck.status == 0, "\(context): \(fsck.stderr)")
            let oldest = try await fixture.git(["rev-list", "--max-parents=0", "HEAD"]).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
            let target = fixture.directory + "/oldest-\(round).db"
            #expect(try await fixture.opsctl(["restore", "--at", oldest, "--to", target]).status == 0, "\(context)")
            let latest = fixture.directory + "/latest-\(round).db"
            #expect(try await fixture.opsctl(["restore", "--to", latest]).status == 0, "\(context)")
            let restored = try fixture.rows(latest)
            #expect(restored == rows || (delay != nil && restored == previous), "\(context): the new backup, or the previous one when killed before its commit")
            // The next scheduled run completes, compaction included.
            let again = try await run("\(binDirectory)/opsctl-backup", ["backup", "--config", fixture.configPath, "--run-id", "again-\(round)"])
            #expect(again.status == 0, "\(context): \(again.stderr)")
            #expect(try packs() <= 32, "\(context): compacted")
            #expect(try await fixture.git(["fsck", "--strict"]).status == 0)
            try? FileManager.default.removeItem(atPath: latest)
            _ = try await fixture.opsctl(["restore", "--to", latest])
            #expect(try fixture.rows(latest) == rows, "\(context): the latest backup after the next run")
        }
    }

    @Test("without backup.keep, prune refuses and says what to add")
    func noPolicy() async throws {
        let fixture = try Fixture(rows: 1_000)
        _ = try await fixture.opsctl(["backup"])
        let result = try await fixture.opsctl(["backup", "prune"])
        #expect(result.status == 1)
        #expect(result.stderr.contains("backup.keep is not set"), "\(result.stderr)")
    }

    @Test("SIGKILL at 20 random points of a prune leaves a repository git fsck accepts, every kept backup restores, and the next prune completes")
    func killedAtRandomPoints() async throws {
        let fixture = try await Self.fixture()
        var backups: [(tree: String, rows: [Row])] = []
        for seed in 1...5 { backups.append(try await Self.backup(fixture, seed: seed)) }
        // How long a whole prune takes here, so the kill times spread over all of it.
        let started = ContinuousClock.now
        #expect(try await fixture.opsctl(["backup", "prune"]).status == 0)
        let span = max(ContinuousClock.now - started, .milliseconds(50))
        var generator = SystemRandomNumberGenerator()
        var killedEarly = 0
        var remoteLocks = 0
        defer { print("prune kills: \(remoteLocks) left the path remote's branch lock") }
        for round in 0..<20 {
            for seed in 0..<2 { backups.append(try await Self.backup(fixture, seed: 100 + round * 2 + seed)) }
            let kept = Dictionary(uniqueKeysWithValues: backups.suffix(3).map { ($0.tree, $0.rows) })
            let prune = try BackgroundProcess("\(binDirectory)/opsctl-backup", ["backup", "prune", "--config", fixture.configPath])
            let delay = Double.random(in: 0...1, using: &generator) * (span / .milliseconds(1))
            try await Task.sleep(for: .milliseconds(Int(delay)))
            let status = prune.kill()
            if status & 0x7f == SIGKILL { killedEarly += 1 }
            let fsck = try await fixture.git(["fsck", "--strict"])
            #expect(fsck.status == 0, "round \(round), killed after \(Int(delay)) ms: \(fsck.stderr)")
            try await Self.restoresEvery(kept, fixture, "round \(round), killed after \(Int(delay)) ms")
            // The path remote is repacked too after the forced push: complete whenever it is killed.
            let remoteFsck = try await fixture.git(["fsck", "--strict"], in: fixture.remote)
            #expect(remoteFsck.status == 0, "round \(round), killed after \(Int(delay)) ms, the remote: \(remoteFsck.stderr)")
            // A push to a path remote updates the remote's branch in this process, so a SIGKILL can
            // leave that branch's lock file in the remote, as git's own push does; the push error
            // names it, and whoever runs the remote removes it. Not part of this repository's state.
            let branchName = try await fixture.git(["symbolic-ref", "--short", "HEAD"]).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
            if unlink(fixture.remote + "/refs/heads/\(branchName).lock") == 0 { remoteLocks += 1 }
            let again = try await fixture.opsctl(["backup", "prune"])
            #expect(again.status == 0, "round \(round): the prune after the kill: \(again.stdout) \(again.stderr)")
            #expect(try await Self.branch(fixture).map(\.tree) == backups.suffix(3).reversed().map(\.tree))
            #expect(try await fixture.git(["fsck", "--strict"]).status == 0)
            let localTip = try await fixture.git(["rev-parse", "HEAD"]).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
            #expect(try await Self.remoteTip(fixture) == localTip, "round \(round): the remote has the pruned branch")
        }
        #expect(killedEarly >= 5, "most kills land inside the prune (\(killedEarly) of 20 did)")
        try await Self.restoresEvery(Dictionary(uniqueKeysWithValues: backups.suffix(3).map { ($0.tree, $0.rows) }), fixture, "at the end")
    }
}
