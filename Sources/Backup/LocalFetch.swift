import CGit2
import Foundation

/// A fetch from a remote that is a directory on this machine, without libgit2's fetch.
///
/// libgit2 fetches over its local transport by building a pack inside the remote with its
/// packbuilder (which delta-searched the 16 MiB chunks, the remote's configuration not limiting
/// it, and deflated everything again on one thread) and then indexing that pack here by inflating
/// and hashing it once more: a new machine's restore of 200 MiB took minutes. `LocalPush` in
/// reverse: for each of the remote's branches, the objects this repository lacks are copied as
/// they are stored there, or whole packs hard-linked on one file system (`ObjectTransfer`), and
/// only then is `refs/remotes/origin/<branch>` set;
/// a remote-tracking branch whose branch the remote no longer has is removed, as libgit2's prune.
struct LocalFetch {
    let repository: GitRepository
    /// The remote's directory (a bare repository).
    let remotePath: String
    /// Where the remote's branches go, `refs/remotes/origin/`.
    let trackingPrefix: String

    func fetch() throws(BackupError) {
        let remote = try GitRepository.openExisting(at: remotePath)
        var seen = Set<String>()
        for branch in try remote.branchNames(under: "refs/heads/") {
            guard let tip = try remote.resolve(reference: "refs/heads/" + branch) else { continue }
            seen.insert(branch)
            // A branch name whose tip this repository has is already complete here.
            if try repository.resolve(reference: trackingPrefix + branch) != tip {
                try ObjectTransfer(from: remote, to: repository, linking: true).copy(reachableFrom: tip)
                try repository.setReference(trackingPrefix + branch, to: tip)
            }
        }
        for branch in try repository.branchNames(under: trackingPrefix) where !seen.contains(branch) {
            var reference: OpaquePointer?
            guard git_reference_lookup(&reference, repository.pointer, trackingPrefix + branch) == 0 else { continue }
            git_reference_delete(reference)
            git_reference_free(reference)
        }
    }
}
