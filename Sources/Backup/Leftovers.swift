import Foundation

/// Removes what a killed backup or restore left in the repository and the work directory.
///
/// libgit2 writes a pack as `objects/pack/pack_git2_<random>` (and its index as
/// `pack_git2_<random>idx.lock`) and renames it into place when complete; git's own tools use
/// `tmp_pack_*` and `tmp_idx_*`. A SIGKILL in between leaves those files forever (30 MiB after 45
/// kills, and `git fsck` reports them as garbage), as do lock files of references. Only the
/// holder of the backup lock may remove them: no other backup or restore is writing then.
enum Leftovers {
    /// Names of temporary files in `objects/pack`.
    static func isTemporaryPack(_ name: String) -> Bool {
        name.hasPrefix("pack_git2_") || name.hasPrefix("tmp_pack_") || name.hasPrefix("tmp_idx_") || name.hasSuffix(".lock")
    }

    /// Removes stale temporary packs and reference locks from `repository`, and our own
    /// half-written `*.tmp` files from `workDirectory`; returns how many files it removed.
    @discardableResult
    static func remove(repository: String, workDirectory: String?) -> Int {
        var removed = 0
        func sweep(_ directory: String, _ matches: (String) -> Bool) {
            for name in (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? [] where matches(name) {
                if unlink(directory + "/" + name) == 0 { removed += 1 }
            }
        }
        sweep(repository + "/objects/pack", isTemporaryPack)
        sweep(repository) { ["HEAD.lock", "config.lock", "packed-refs.lock", "FETCH_HEAD.lock"].contains($0) }
        var references = [repository + "/refs"]
        while let directory = references.popLast() {
            for name in (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? [] {
                let path = directory + "/" + name
                var info = stat()
                guard lstat(path, &info) == 0 else { continue }
                if (info.st_mode & S_IFMT) == S_IFDIR {
                    references.append(path)
                } else if name.hasSuffix(".lock"), unlink(path) == 0 {
                    removed += 1
                }
            }
        }
        if let workDirectory { sweep(workDirectory) { $0.hasSuffix(".tmp") } }
        return removed
    }

    /// How long a temporary pack in a remote must have gone unwritten before it counts as left
    /// behind. No lock covers a remote (other hosts push into the same directory), so age is the
    /// only sign that nobody is writing a file: a pack being written grows every few milliseconds,
    /// and its index is written within seconds of the pack's last byte, so an hour without a
    /// write is a writer that was killed, never one that is slow, even on a network filesystem.
    static let remoteGrace: Duration = .seconds(3600)

    /// Removes from a remote on this machine the `tmp_pack_*` and `tmp_idx_*` files that a push
    /// (or compaction) killed mid-way left in its `objects/pack`, when nothing has written them
    /// for ``remoteGrace``; another host's push in progress keeps its files. Returns how many
    /// files it removed.
    @discardableResult
    static func removeStale(fromRemote remotePath: String, now: time_t = time(nil)) -> Int {
        let directory = remotePath + "/objects/pack"
        let oldest = now - time_t(remoteGrace.components.seconds)
        var removed = 0
        for name in (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? [] where name.hasPrefix("tmp_pack_") || name.hasPrefix("tmp_idx_") {
            var info = stat()
            guard lstat(directory + "/" + name, &info) == 0, info.st_mode & S_IFMT == S_IFREG, info.st_mtim.tv_sec < oldest else { continue }
            if unlink(directory + "/" + name) == 0 { removed += 1 }
        }
        return removed
    }
}
