import CGit2
import Foundation
import Logging
import OpsConfig

/// Compacts a remote that is a repository on this machine (the remotes `LocalPush` writes into),
/// as the local repository is compacted: nobody runs `git gc` in such a directory, so without
/// this it would hold a pack per push, and every backup a prune dropped, for ever. A remote over
/// SSH or HTTPS is the server's: its own gc does this there (docs/backup-format.md, Retention).
///
/// The same crash safety as locally (the new pack is complete and indexed before an old one
/// goes), and only packs that were there when it started are removed, so a push from another
/// host into the same remote meanwhile keeps its pack.
struct RemoteCompaction {
    /// The remote's directory.
    let path: String
    let logger: Logger

    /// Nil unless `spec` names a repository on this machine.
    init?(_ spec: RemoteSpec, logger: Logger) {
        let path = spec.url.hasPrefix("file://") ? String(spec.url.dropFirst(7)) : spec.url
        guard RemoteSync.isLocalPath(spec.url), FileSystem.exists(path + "/objects") else { return nil }
        self.path = path
        self.logger = logger
    }

    /// After a push: stale temporary packs go (``removeLeftovers()``), and past
    /// `Repack.packThreshold` packs the small ones are rolled up (`GeometricRepack`). A failure is
    /// logged and left for the next push; the backup stands.
    func afterPush() {
        removeLeftovers()
        do throws(BackupError) {
            let remote = try GitRepository.openExisting(at: path)
            let before = ObjectsUsage(objectsDirectory: remote.objectsDirectory).packs
            guard before > Repack.packThreshold else { return }
            let rolled = try GeometricRepack(repository: remote).run()
            logger.notice("backup remote compacted", metadata: ["remote": "\(path)", "packs_before": "\(before)", "rolled_up": "\(rolled)"])
        } catch {
            logger.warning("backup remote could not be compacted; the next push tries again", metadata: ["remote": "\(path)", "error": "\(error.description)"])
        }
    }

    /// Temporary packs a killed push left in the remote, once nobody can still be writing them
    /// (`Leftovers.removeStale(fromRemote:)`): no lock covers a remote, so they cannot go at once
    /// as the local repository's do.
    private func removeLeftovers() {
        let removed = Leftovers.removeStale(fromRemote: path)
        if removed > 0 {
            logger.notice("backup: removed temporary packs an interrupted push left in the remote", metadata: ["remote": "\(path)", "files": "\(removed)"])
        }
    }

    /// After a prune's forced push: the remote repacked to what its references reach, so the
    /// dropped backups leave it too. `reference` is the branch the prune rewrote (its reflog, if
    /// the remote keeps one, would name the dropped commits).
    func afterPrune(reference: String) throws(BackupError) {
        removeLeftovers()
        let remote = try GitRepository.openExisting(at: path)
        _ = git_reflog_delete(remote.pointer, reference)
        try Repack(repository: remote).run()
        logger.info("backup remote repacked to its reachable objects", metadata: ["remote": "\(path)"])
    }
}
