import CGit2
import Foundation

/// Writes one new pack holding given objects of a repository by copying their entries as they are
/// stored in its packs (`PackedEntries`, each checked against its index's CRC-32), and removes
/// packs only once that pack is complete and indexed. What compactions are made of.
///
/// libgit2's packbuilder, which `Repack` and `GeometricRepack` used before, inflated every object,
/// delta-searched it and deflated it again at zlib's default level on one thread: at 16 MiB that
/// was 3.8 s of a 4 s prune, and it grew with the database. A copy costs a read and a write. An
/// object that is not stored whole (a loose object, a delta from git's own gc, an entry whose CRC
/// does not match) is read through libgit2, which checks its id, and deflated afresh.
struct PackCopy {
    let repository: GitRepository

    /// A blob this big is a database chunk or delta part (random bytes): deflated `fast`, as the
    /// backup stores them; smaller objects keep zlib's default.
    static let chunkSize = 64 * 1024

    /// The packs now in `objects/pack` that have an index (names without extension).
    func packs() -> [(name: String, size: Int)] {
        let directory = repository.objectsDirectory + "/pack"
        return ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []).compactMap { file in
            guard file.hasPrefix("pack-"), file.hasSuffix(".pack") else { return nil }
            let name = (file as NSString).deletingPathExtension
            var info = stat()
            guard FileSystem.exists("\(directory)/\(name).idx"), stat("\(directory)/\(file)", &info) == 0 else { return nil }
            return (name, Int(info.st_size))
        }
    }

    /// Writes `objects` (each once, in this order) into one new pack, then removes the packs named
    /// in `replacing` (never the new one, should it be byte for byte one of them). Returns the new
    /// pack's name, nil when `objects` is empty.
    @discardableResult
    func write(_ objects: [ObjectID], replacing: [String]) throws(BackupError) -> String? {
        var odb: OpaquePointer?
        try gitCheck(git_repository_odb(&odb, repository.pointer), "cannot open the object database of \(repository.path)")
        defer { git_odb_free(odb) }
        let directory = repository.objectsDirectory + "/pack"
        let stored = PackedEntries(objectsDirectory: repository.objectsDirectory)
        let encoder = PackEncoder(directory: directory)
        for id in objects where !encoder.contains(id) {
            if let entry = stored.entry(id) {
                try encoder.submit(entry)
                continue
            }
            var oid = id.raw
            var object: OpaquePointer?
            try gitCheck(git_odb_read(&object, odb, &oid), "cannot read \(id) from \(repository.path); the repository is damaged")
            defer { git_odb_object_free(object) }
            let size = git_odb_object_size(object)
            let type = git_odb_object_type(object)
            let data = size > 0 ? git_odb_object_data(object).map { Array(UnsafeRawBufferPointer(start: $0, count: size)) } ?? [] : []
            try encoder.submit(id: id, type: type, data, effort: type == GIT_OBJECT_BLOB && size >= Self.chunkSize ? .fast : .normal)
        }
        // Complete, fsynced and renamed into place (the index last) before any old pack goes.
        let name = try encoder.finish()?.name
        for pack in replacing where pack != name {
            // The index first: git and libgit2 read only packs that have one.
            for suffix in [".idx", ".bitmap", ".rev", ".keep", ".pack"] { unlink("\(directory)/\(pack)\(suffix)") }
        }
        return name
    }

    /// Every object reachable from any reference, commits first (newest first), then each
    /// commit's trees and blobs once.
    func reachable() throws(BackupError) -> [ObjectID] {
        var walk: OpaquePointer?
        try gitCheck(git_revwalk_new(&walk, repository.pointer), "cannot walk the history of \(repository.path)")
        defer { git_revwalk_free(walk) }
        try gitCheck(git_revwalk_push_glob(walk, "refs/*"), "cannot read the references of \(repository.path)")
        var commits: [ObjectID] = []
        var oid = git_oid()
        while true {
            let rc = git_revwalk_next(&oid, walk)
            if rc == GIT_ITEROVER.rawValue { break }
            try gitCheck(rc, "cannot walk the history of \(repository.path); the repository is damaged")
            commits.append(ObjectID(oid))
        }
        var seen = Set(commits)
        var objects = commits
        for commit in commits {
            var trees = [try repository.commit(commit).tree]
            while let tree = trees.popLast() {
                guard seen.insert(tree).inserted else { continue }
                objects.append(tree)
                for entry in try repository.entries(of: tree) {
                    if entry.isTree {
                        trees.append(entry.id)
                    } else if seen.insert(entry.id).inserted {
                        objects.append(entry.id)
                    }
                }
            }
        }
        return objects
    }
}
