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

    /// The newest backup commit. With `fromRemote`, fetches first and uses the remote's branch;
    /// otherwise the local branch, or the remote-tracking one when there is no local branch yet.
    func tip(_ repository: GitRepository, fromRemote: Bool) throws(BackupError) -> ObjectID {
        if fromRemote {
            guard let spec = plan.remote else {
                throw BackupError("--from-remote needs backup.remote in the configuration")
            }
            try RemoteSync(repository: repository, plan: plan, spec: spec, logger: logger, progress: progress).fetch()
            guard let remote = try repository.resolve(reference: plan.remoteReference) else {
                throw BackupError("the remote \(spec.url) has no branch \(plan.branch); check backup.remote.branch (the default is the host name that made the backups)")
            }
            return remote
        }
        if let local = try repository.resolve(reference: plan.reference) { return local }
        if let remote = try repository.resolve(reference: plan.remoteReference) { return remote }
        throw BackupError("there is no backup on branch \(plan.branch) in \(plan.repository); run `opsctl backup` first, or pass --from-remote on a new machine")
    }

    func entries(fromRemote: Bool) throws(BackupError) -> [BackupEntry] {
        let repository = try GitRepository.openOrCreate(at: plan.repository)
        let tip: ObjectID
        do { tip = try self.tip(repository, fromRemote: fromRemote) } catch {
            if !fromRemote, try repository.resolve(reference: plan.reference) == nil { return [] }
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
