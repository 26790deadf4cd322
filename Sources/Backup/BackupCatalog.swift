import CGit2
import Foundation
import Logging
import OpsLogging

/// One backup as `opsctl backup list` shows it.
public struct BackupEntry: Sendable, Equatable, Codable {
    /// The commit id.
    public var commit: String
    /// When it was made (ISO 8601, UTC).
    public var time: String
    /// The commit message's first line.
    public var summary: String
    /// True when the remote has this commit.
    public var pushed: Bool
}

/// Reads the branch's history: the list of backups, and the tip a restore starts from.
struct BackupCatalog {
    let plan: BackupPlan
    let logger: Logger
    /// Hears how far a fetch got; nil where nobody watches.
    var progress: ProgressReporter? = nil
    /// True when the branch was asked for (`--branch`): its absence is an error, never an empty list.
    var explicitBranch = false

    /// The newest backup commit. With `fromRemote`, fetches first and uses the remote's branch;
    /// otherwise the local branch, or the remote-tracking one when there is no local branch yet.
    /// A missing branch is an error that lists the branches there are (on the remote, or here).
    func tip(_ repository: GitRepository, fromRemote: Bool) throws(BackupError) -> ObjectID {
        if fromRemote {
            guard let spec = plan.remote else {
                throw BackupError("--from-remote needs backup.remote in the configuration")
            }
            try RemoteSync(repository: repository, plan: plan, spec: spec, logger: logger, progress: progress).fetch()
            guard let remote = try repository.resolve(reference: plan.remoteReference) else {
                let branches = try repository.branchNames(under: "refs/remotes/\(RemoteSync.remoteName)/")
                guard !branches.isEmpty else {
                    throw BackupError("the remote \(spec.url) has no branch \(plan.branch); it has no branch at all yet (a first `opsctl backup` pushes one), so on a new machine check backup.remote.url")
                }
                throw BackupError("the remote \(spec.url) has no branch \(plan.branch); its branches are \(Self.choice(branches))")
            }
            return remote
        }
        if let local = try repository.resolve(reference: plan.reference) { return local }
        if let remote = try repository.resolve(reference: plan.remoteReference) { return remote }
        let branches = try localBranches(repository)
        guard branches.isEmpty else {
            throw BackupError("there is no backup on branch \(plan.branch) in \(plan.repository); the branches here are \(Self.choice(branches)), or --from-remote to look on the remote")
        }
        throw BackupError("there is no backup on branch \(plan.branch) in \(plan.repository); run `opsctl backup` first, or pass --from-remote on a new machine")
    }

    /// The branches this repository has backups on: its own, and those fetched from the remote.
    func localBranches(_ repository: GitRepository) throws(BackupError) -> [String] {
        let own = try repository.branchNames(under: "refs/heads/")
        let fetched = try repository.branchNames(under: "refs/remotes/\(RemoteSync.remoteName)/")
        return Array(Set(own + fetched)).sorted()
    }

    /// "a, b; pass the one to use with --branch (e.g. --branch a)", for a non-empty list.
    static func choice(_ branches: [String]) -> String {
        "\(branches.joined(separator: ", ")); pass the one to use with --branch (e.g. --branch \(branches.first ?? "NAME"))"
    }

    func entries(fromRemote: Bool) throws(BackupError) -> [BackupEntry] {
        let repository = try GitRepository.openOrCreate(at: plan.repository)
        let tip: ObjectID
        do { tip = try self.tip(repository, fromRemote: fromRemote) } catch {
            // No backup yet on this host's own branch, and no other branch to point at: an empty list.
            if !fromRemote, !explicitBranch, try localBranches(repository).isEmpty { return [] }
            throw error
        }
        var pushed = Set<ObjectID>()
        var next = try repository.resolve(reference: plan.remoteReference)
        while let id = next { pushed.insert(id); next = try repository.commit(id).parent }
        var entries: [BackupEntry] = []
        next = tip
        while let id = next {
            let commit = try repository.commit(id)
            let summary = commit.message.split(separator: "\n").first.map(String.init) ?? ""
            entries.append(BackupEntry(commit: id.description, time: ManifestCoding.timestamp(commit.time), summary: summary, pushed: pushed.contains(id)))
            next = commit.parent
        }
        return entries
    }
}

extension BackupPlan {
    /// This plan on another host's branch (`--branch`: a new machine restoring the old one's
    /// backups); the plan itself when `branch` is nil.
    func onBranch(_ branch: String?) throws(BackupError) -> BackupPlan {
        guard let branch else { return self }
        // libgit2 sets its error for an invalid name, which crashes before git_libgit2_init.
        _ = libgit2Ready
        guard !branch.isEmpty, git_reference_is_valid_name("refs/heads/" + branch) != 0 else {
            throw BackupError("--branch \"\(branch)\" is not a valid git branch name; pass a host's branch as `opsctl backup list --branch NAME` shows it (by default the host name)")
        }
        var plan = self
        plan.branch = branch
        return plan
    }
}

extension BackupRunner {
    /// The backups on `branch` (nil: this host's branch, `backup.remote.branch`), newest first,
    /// with whether the remote has each. A `branch` that does not exist is an error naming those that do.
    public func list(fromRemote: Bool, branch: String?) async throws(BackupError) -> [BackupEntry] {
        let plan = try plan.onBranch(branch)
        let logger = logger
        let progress = progress
        let catalog = BackupCatalog(plan: plan, logger: logger, progress: progress, explicitBranch: branch != nil)
        let result = await onOwnThread { () throws(BackupError) in try catalog.entries(fromRemote: fromRemote) }
        progress?.finish()
        return try result.get()
    }
}

extension GitRepository {
    /// The branch names under `prefix` (`refs/heads/`, `refs/remotes/origin/`), sorted; a
    /// remote's symbolic HEAD is not a branch and is left out.
    func branchNames(under prefix: String) throws(BackupError) -> [String] {
        var iterator: OpaquePointer?
        try gitCheck(git_reference_iterator_glob_new(&iterator, pointer, prefix + "*"), "cannot list the references of \(path)")
        defer { git_reference_iterator_free(iterator) }
        var names: [String] = []
        var name: UnsafePointer<CChar>?
        while git_reference_next_name(&name, iterator) == 0, let name {
            let branch = String(String(cString: name).dropFirst(prefix.count))
            if branch != "HEAD" { names.append(branch) }
        }
        return names.sorted()
    }
}
