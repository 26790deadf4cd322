import CGit2
import Foundation
import Logging
public import OpsConfig
import OpsLogging
import Scheduling

/// One backup in a prune's report.
public struct PruneEntry: Sendable, Equatable, Codable {
    /// The commit id before the prune (a kept backup's id changes when an older one is dropped).
    public var commit: String
    /// When it was made (ISO 8601, UTC).
    public var time: String
    /// The commit message's first line.
    public var summary: String
    /// Why the policy keeps it ("daily snapshot", …); empty for a dropped backup.
    public var reasons: [String]
}

/// What `opsctl backup prune` did, or with `--dry-run` would do.
public struct PruneOutcome: Sendable, Equatable, Codable {
    /// The branch pruned.
    public var branch: String
    /// True when nothing was changed.
    public var dryRun: Bool
    /// The backups kept, newest first.
    public var kept: [PruneEntry]
    /// The backups dropped, newest first.
    public var dropped: [PruneEntry]
    /// The branch's tip afterwards (its id changes when a backup below it was dropped).
    public var tip: String
    /// Pack files in the repository before and after.
    public var packsBefore: Int
    public var packsAfter: Int
    /// Bytes under `objects/` before and after.
    public var bytesBefore: Int
    public var bytesAfter: Int
    /// The force-push of the rewritten branch; `notConfigured` without a remote.
    public var push: PushOutcome
}

/// Applies `backup.keep` to this host's branch: rewrites the branch so that only the kept backups
/// remain (each kept commit's tree, author, committer and message unchanged, parents re-linked),
/// force-pushes it, and repacks the repository's reachable objects into one pack so what only the
/// dropped backups used leaves the disk.
///
/// libgit2 has no `gc`, and opsd does not run git at run time, so the repack copies the stored
/// entries of every object reachable from a reference into one new pack (`Repack`, `PackCopy`);
/// a remote that is a path is repacked the same way after the push (`RemoteCompaction`), since
/// nobody runs gc there. A kept backup's tree names every chunk and delta it restores from (every
/// commit is self-contained), so whatever objects a dropped backup first wrote and a kept one
/// still uses stay reachable and stay in the new pack.
///
/// Crash safety, step by step (a SIGKILL anywhere leaves a repository `git fsck` accepts):
/// `opsd-prune.pending` is written first; the new commits are written unreferenced; the branch
/// moves by compare-and-swap (old or new history, both complete); the push replaces the remote's
/// branch atomically; the new pack is complete and renamed into place before any old pack or
/// loose object is removed (an index first, so a pack is never half there: git ignores a pack
/// without its index). The marker goes last, and a prune that finds it repacks again.
struct Pruner {
    let plan: BackupPlan
    let keep: BackupKeep
    let logger: Logger
    let pushRetry: RetryPolicy
    let progress: ProgressReporter?
    /// The zone calendar periods are read in: the host's local time, as restic does.
    var timeZone: TimeZone = .current

    /// The marker a prune leaves until its repack is done.
    static let pendingName = "opsd-prune.pending"

    func prune(dryRun: Bool) throws(BackupError) -> PruneOutcome {
        let lock = try BackupLock(repository: plan.repository, stateDirectory: plan.stateDirectory)
        defer { withExtendedLifetime(lock) {} }
        Leftovers.remove(repository: plan.repository, workDirectory: nil)
        // A fetch killed while writing FETCH_HEAD leaves its lock, and every later fetch (the
        // lease below) would fail on it; Leftovers does not know it yet.
        unlink(plan.repository + "/FETCH_HEAD.lock")
        let repository = try GitRepository.openOrCreate(at: plan.repository)
        guard let tip = try repository.resolve(reference: plan.reference) else {
            throw BackupError("there is no backup on branch \(plan.branch) in \(plan.repository); nothing to prune")
        }
        var history: [CommitInfo] = []
        var next: ObjectID? = tip
        while let id = next {
            let commit = try repository.commit(id)
            history.append(commit)
            next = commit.parent
        }
        let decisions = RetentionPolicy(keep: keep, timeZone: timeZone).apply(history.map(\.time))
        func entry(_ decision: RetentionPolicy.Decision) -> PruneEntry {
            let commit = history[decision.index]
            return PruneEntry(
                commit: commit.id.description, time: ManifestCoding.timestamp(commit.time),
                summary: commit.message.split(separator: "\n").first.map(String.init) ?? "", reasons: decision.reasons)
        }
        let before = ObjectsUsage(objectsDirectory: repository.objectsDirectory)
        var outcome = PruneOutcome(
            branch: plan.branch, dryRun: dryRun, kept: decisions.filter(\.kept).map(entry), dropped: decisions.filter { !$0.kept }.map(entry),
            tip: tip.description, packsBefore: before.packs, packsAfter: before.packs, bytesBefore: before.bytes, bytesAfter: before.bytes,
            push: PushOutcome(state: .notConfigured, pushedCommits: 0, unpushedCommits: 0))
        if dryRun { return outcome }

        let pending = plan.repository + "/" + Self.pendingName
        var repack = FileSystem.exists(pending)
        if !outcome.dropped.isEmpty {
            try Self.markPending(pending)
            repack = true
            // Oldest first, so each kept commit's new parent exists when it is written.
            let keptIDs = Set(decisions.filter(\.kept).map { history[$0.index].id })
            var parent: ObjectID?
            for commit in history.reversed() where keptIDs.contains(commit.id) { parent = try rewrite(repository, commit, parent: parent) }
            guard let newTip = parent else { throw BackupError("the policy kept no backup; nothing was changed") }
            try repository.updateReference(plan.reference, to: newTip, expected: tip, message: "opsd: prune")
            outcome.tip = newTip.description
            logger.info("backup prune rewrote the branch", metadata: ["kept": "\(outcome.kept.count)", "dropped": "\(outcome.dropped.count)", "tip": "\(newTip)"])
        }
        if let spec = plan.remote {
            let local = try repository.resolve(reference: plan.reference)
            let tracked = try repository.resolve(reference: plan.remoteReference)
            if let local, local != tracked {
                if let tracked, !(try repository.isAncestor(tracked, of: local)) {
                    // The remote-tracking branch still names dropped backups: once the remote has
                    // the new history, their objects can leave this repository too.
                    try Self.markPending(pending)
                    repack = true
                }
                do throws(BackupError) {
                    let sync = RemoteSync(repository: repository, plan: plan, spec: spec, logger: logger, progress: progress)
                    // A forced push must replace only what this repository knows the remote had,
                    // never commits another host pushed to the same branch since (a lease, as
                    // git's --force-with-lease, which libgit2 lacks): fetch, then compare.
                    try sync.fetch()
                    if let current = try repository.resolve(reference: plan.remoteReference), current != tracked, !(try repository.isAncestor(current, of: local)) {
                        throw BackupError("the remote \(spec.url) has commits on \(plan.branch) that this repository does not have, so the pruned branch was not pushed over them; another host may back up to the same branch: give each host its own backup.remote.branch")
                    }
                    let sent = try sync.push(retry: pushRetry, force: true)
                    outcome.push = PushOutcome(state: .pushed, pushedCommits: sent, unpushedCommits: 0)
                } catch {
                    outcome.push = PushOutcome(state: .failed, pushedCommits: 0, unpushedCommits: (try? repository.commitsAhead(local, of: tracked)) ?? 0, error: error.description)
                    logger.warning("backup prune could not push the pruned branch; the next prune pushes it", metadata: ["error": "\(error.description)"])
                }
            } else {
                outcome.push = PushOutcome(state: .pushed, pushedCommits: 0, unpushedCommits: 0)
            }
        }
        if repack {
            // Reflogs would keep dropped commits alive for git (and fsck checks their entries).
            for name in [plan.reference, plan.remoteReference, "HEAD"] { _ = git_reflog_delete(repository.pointer, name) }
            try Repack(repository: repository).run()
            if outcome.push.state == .pushed, let spec = plan.remote, let remote = RemoteCompaction(spec, logger: logger) {
                // Nobody runs gc in a remote directory: what the forced push dropped goes here.
                try remote.afterPrune(reference: plan.reference)
            }
            unlink(pending)
        } else if before.packs > Repack.packThreshold {
            // Packs pile up at one or two per backup: roll the small ones up.
            try GeometricRepack(repository: repository).run()
        }
        let after = ObjectsUsage(objectsDirectory: repository.objectsDirectory)
        (outcome.packsAfter, outcome.bytesAfter) = (after.packs, after.bytes)
        return outcome
    }

    /// Writes the marker (durably: a repack must follow whatever comes next).
    static func markPending(_ path: String) throws(BackupError) {
        let fd = open(path, O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw BackupError("cannot write \(path): \(String(cString: strerror(errno))); check the repository's permissions") }
        fsync(fd)
        close(fd)
    }

    /// `commit` again with `parent` as its parent, everything else unchanged; the same commit when
    /// its parent is already `parent` (the backups older than the first dropped one keep their ids).
    private func rewrite(_ repository: GitRepository, _ commit: CommitInfo, parent: ObjectID?) throws(BackupError) -> ObjectID {
        if commit.parent == parent { return commit.id }
        var oid = commit.id.raw
        var original: OpaquePointer?
        try gitCheck(git_commit_lookup(&original, repository.pointer, &oid), "cannot read commit \(commit.id) from \(repository.path)")
        defer { git_commit_free(original) }
        var tree: OpaquePointer?
        try gitCheck(git_commit_tree(&tree, original), "cannot read the tree of commit \(commit.id)")
        defer { git_tree_free(tree) }
        var parentObject: OpaquePointer?
        if var parentOid = parent?.raw {
            try gitCheck(git_commit_lookup(&parentObject, repository.pointer, &parentOid), "cannot read commit \(parent?.description ?? "")")
        }
        defer { git_commit_free(parentObject) }
        var parents: [OpaquePointer?] = parentObject.map { [$0] } ?? []
        var result = git_oid()
        try gitCheck(
            git_commit_create(
                &result, repository.pointer, nil, git_commit_author(original), git_commit_committer(original), git_commit_message_encoding(original),
                git_commit_message(original), tree, parents.count, &parents),
            "cannot write the pruned branch's commit for \(commit.id)")
        return ObjectID(result)
    }
}

/// Packs every object reachable from any reference into one new pack (their stored entries
/// copied, `PackCopy`), then removes the packs that were there before and every loose object.
struct Repack {
    let repository: GitRepository

    /// More packs than this and a prune or a compaction repacks (every object lookup reads
    /// each pack's index; a year of nightly backups wrote about 730).
    static let packThreshold = 32

    func run() throws(BackupError) {
        let copy = PackCopy(repository: repository)
        let directory = repository.objectsDirectory + "/pack"
        // Listed before the walk: a pack that arrives meanwhile (another host's push into a
        // shared remote) is not this repack's to remove. A pack whose index a killed repack
        // already removed is listed too.
        let files = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        let old = Set(files.filter { $0.hasPrefix("pack-") }.map { ($0 as NSString).deletingPathExtension })
        try copy.write(try copy.reachable(), replacing: old.sorted())
        let objects = repository.objectsDirectory
        // Written only by git's own gc or maintenance, run by hand: they would name dropped packs and commits.
        unlink(directory + "/multi-pack-index")
        unlink(objects + "/info/commit-graph")
        try? FileManager.default.removeItem(atPath: objects + "/info/commit-graphs")
        for fanout in (try? FileManager.default.contentsOfDirectory(atPath: objects)) ?? [] where fanout.count == 2 && fanout.allSatisfy(\.isHexDigit) {
            let path = objects + "/" + fanout
            for loose in (try? FileManager.default.contentsOfDirectory(atPath: path)) ?? [] { unlink(path + "/" + loose) }
            rmdir(path)
        }
    }
}

/// How many packs and bytes a repository's `objects/` holds.
struct ObjectsUsage {
    var packs = 0
    var bytes = 0

    init(objectsDirectory: String) {
        guard let walker = FileManager.default.enumerator(atPath: objectsDirectory) else { return }
        while let relative = walker.nextObject() as? String {
            var info = stat()
            guard lstat(objectsDirectory + "/" + relative, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG else { continue }
            bytes += Int(info.st_size)
            if relative.hasPrefix("pack/pack-"), relative.hasSuffix(".pack") { packs += 1 }
        }
    }
}

extension GitRepository {
    /// True when `ancestor` is `commit` or in its history.
    func isAncestor(_ ancestor: ObjectID, of commit: ObjectID) throws(BackupError) -> Bool {
        if ancestor == commit { return true }
        var a = ancestor.raw, c = commit.raw
        let rc = git_graph_descendant_of(pointer, &c, &a)
        try gitCheck(rc, "cannot compare \(commit) with \(ancestor)")
        return rc == 1
    }
}

extension BackupRunner {
    /// Applies `keep` to this host's branch (see `Pruner`); with `dryRun`, only says what it would
    /// keep and drop. Takes the repository lock like a backup.
    public func prune(keep: BackupKeep, dryRun: Bool) async throws(BackupError) -> PruneOutcome {
        let pruner = Pruner(plan: plan, keep: keep, logger: logger, pushRetry: pushRetry, progress: progress)
        let result = await onOwnThread { () throws(BackupError) in try pruner.prune(dryRun: dryRun) }
        progress?.finish()
        return try result.get()
    }
}

/// Keeps the pack count bounded without a retention policy: past `Repack.packThreshold` packs it
/// rolls the small ones up (`GeometricRepack`); a killed prune's marker gets its full repack.
/// Under the backup lock; the new pack is in place before any old one goes.
struct Compactor {
    let plan: BackupPlan

    /// The packs before and after; equal when there was nothing to do.
    func compact() throws(BackupError) -> (before: Int, after: Int) {
        let lock = try BackupLock(repository: plan.repository, stateDirectory: plan.stateDirectory)
        defer { withExtendedLifetime(lock) {} }
        Leftovers.remove(repository: plan.repository, workDirectory: nil)
        let repository = try GitRepository.openOrCreate(at: plan.repository)
        let pending = plan.repository + "/" + Pruner.pendingName
        let before = ObjectsUsage(objectsDirectory: repository.objectsDirectory).packs
        if FileSystem.exists(pending) {
            // A prune or compaction was killed in its repack: finish it whole, the remote's too.
            try Repack(repository: repository).run()
            if let spec = plan.remote { try RemoteCompaction(spec, logger: Logger(label: "opsctl.backup"))?.afterPrune(reference: plan.reference) }
            unlink(pending)
        } else if before > Repack.packThreshold {
            try GeometricRepack(repository: repository).run()
        }
        return (before, ObjectsUsage(objectsDirectory: repository.objectsDirectory).packs)
    }
}

extension BackupRunner {
    /// Rolls small packs up when packs have piled up (see `Compactor`); returns the pack
    /// counts before and after.
    public func compact() async throws(BackupError) -> (before: Int, after: Int) {
        let compactor = Compactor(plan: plan)
        return try await onOwnThread { () throws(BackupError) in try compactor.compact() }.get()
    }
}
