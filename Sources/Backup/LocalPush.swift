import CGit2
import Foundation

/// A push to a remote that is a directory on this machine, without libgit2's push.
///
/// libgit2 pushes by building a pack with its packbuilder, which inflates every object and deflates
/// it again at zlib's default level on one thread, and then indexes that pack in the remote by
/// inflating and hashing it once more: for a first backup of 200 MiB that was half of the whole
/// backup's time. Here the objects the remote lacks (found by walking the new commits and stopping
/// at what the remote has) are copied as they are stored here (`PackedEntries`), or deflated on
/// every core when they are not stored whole, into one pack written straight into the
/// remote's `objects/pack` (`PackEncoder`, `PackFileWriter`: complete, fsynced and indexed before it
/// is visible), and only then is the branch moved, by compare-and-swap, as `git push` does.
struct LocalPush {
    let repository: GitRepository
    /// The remote's directory (a bare repository).
    let remotePath: String
    /// The local reference pushed (the branch, or its encrypted mirror)…
    let source: String
    /// …to this reference of the remote.
    let reference: String

    /// How a push ended when it did not throw.
    enum Outcome: Equatable {
        /// The remote's branch now points at the local one.
        case pushed
        /// The remote's branch has commits the local one does not (and `force` was not given).
        case notFastForward
    }

    /// Pushes `source` to the remote's `reference`; `force` replaces the remote's branch even when it is not an
    /// ancestor (a prune rewrote the history).
    func push(force: Bool) throws(BackupError) -> Outcome {
        guard let local = try repository.resolve(reference: source) else { return .pushed }
        let remote = try GitRepository.openExisting(at: remotePath)
        let old = try remote.resolve(reference: reference)
        if old == local { return .pushed }
        // An old tip this repository does not even have is not an ancestor either.
        if let old, !force, (try? repository.isAncestor(old, of: local)) != true { return .notFastForward }
        try ObjectTransfer(from: repository, to: remote).copy(reachableFrom: local)
        var target = local.raw
        var created: OpaquePointer?
        let rc: Int32
        if var expected = old?.raw {
            rc = git_reference_create_matching(&created, remote.pointer, reference, &target, 1, &expected, "opsd: push")
        } else {
            rc = git_reference_create(&created, remote.pointer, reference, &target, 0, "opsd: push")
        }
        git_reference_free(created)
        // Another writer moved the branch meanwhile: as a refused non-fast-forward push.
        if rc == GIT_EMODIFIED.rawValue || rc == GIT_EEXISTS.rawValue { return .notFastForward }
        try gitCheck(rc, "cannot move \(reference) in \(remotePath)")
        return .pushed
    }
}

/// Copies what one repository on this machine lacks of another's history: the objects reachable
/// from a commit, walked down to the first commit the destination has (no reference is moved here).
///
/// With `linking` (a fetch), a source pack all of whose objects the destination lacks is
/// hard-linked into it when both are on one file system, as `git clone --local` does, once every
/// entry matches its index's CRC-32: a pack is never changed once written (a repack writes a new
/// one and removes the old name), so the two repositories share its bytes safely, and a new
/// machine's restore from a same-disk remote costs no copy. A push never links: the remote is the
/// second copy, and on one disk only a copy keeps its bytes on other blocks. Everything else goes
/// into one pack written straight into the destination (complete, fsynced and indexed before it is
/// visible): entries stored whole in the source are copied as they are, checked against its
/// index's CRC-32; the rest (loose objects, deltas, an entry whose CRC does not match) are read
/// through libgit2, which checks their ids, and deflated again on every core.
struct ObjectTransfer {
    let source: GitRepository
    let destination: GitRepository
    /// Hard-link whole packs where possible (a fetch), instead of always copying (a push).
    let linking: Bool

    init(from source: GitRepository, to destination: GitRepository, linking: Bool = false) {
        self.source = source
        self.destination = destination
        self.linking = linking
    }

    /// Copies every object reachable from `tip` that the destination lacks.
    func copy(reachableFrom tip: ObjectID) throws(BackupError) {
        var destinationODB: OpaquePointer?
        try gitCheck(git_repository_odb(&destinationODB, destination.pointer), "cannot open the object database of \(destination.path)")
        defer { git_odb_free(destinationODB) }
        var sourceODB: OpaquePointer?
        try gitCheck(git_repository_odb(&sourceODB, source.pointer), "cannot open the object database of \(source.path)")
        defer { git_odb_free(sourceODB) }

        let encoder = PackEncoder(directory: destination.objectsDirectory + "/pack")
        let stored = PackedEntries(objectsDirectory: source.objectsDirectory)
        var seen = Set<ObjectID>()
        func missing(_ id: ObjectID) -> Bool {
            var oid = id.raw
            return seen.insert(id).inserted && git_odb_exists(destinationODB, &oid) == 0
        }
        // Walked first, copied after the packs that can be linked are.
        var wanted: [(id: ObjectID, effort: PackEntry.Effort)] = []
        func copy(_ id: ObjectID, effort: PackEntry.Effort) throws(BackupError) {
            // As stored there, copied: deflating it again was most of the time.
            if let entry = stored.entry(id) { return try encoder.submit(entry) }
            var oid = id.raw
            var object: OpaquePointer?
            try gitCheck(git_odb_read(&object, sourceODB, &oid), "cannot read \(id) from \(source.path); the repository is damaged")
            defer { git_odb_object_free(object) }
            let size = git_odb_object_size(object)
            let data = size > 0 ? git_odb_object_data(object).map { Array(UnsafeRawBufferPointer(start: $0, count: size)) } ?? [] : []
            try encoder.submit(id: id, type: git_odb_object_type(object), data, effort: effort)
        }
        // Commits back to the ones the destination has (every parent: a branch that is not opsd's
        // may hold merges); then every tree and blob they reach that it lacks (a tree it has comes
        // with everything under it).
        var trees: [(id: ObjectID, chunks: Bool)] = []
        var commits: [ObjectID] = [tip]
        while let id = commits.popLast() {
            guard missing(id) else { continue }
            let (tree, parents) = try commitLinks(id)
            wanted.append((id, .normal))
            trees.append((tree, false))
            commits.append(contentsOf: parents)
        }
        while let (tree, chunks) = trees.popLast() {
            guard missing(tree) else { continue }
            wanted.append((tree, .normal))
            for entry in try source.entries(of: tree) {
                if entry.isTree {
                    trees.append((entry.id, entry.name == "full"))
                } else if missing(entry.id) {
                    // A full snapshot's chunks are deflated as they were stored (`Effort.fast`).
                    wanted.append((entry.id, chunks ? .fast : .normal))
                }
            }
        }
        let linked = linking ? try linkWholePacks(of: stored, wanted: Set(wanted.map(\.id))) : []
        for (id, effort) in wanted where !linked.contains(id) { try copy(id, effort: effort) }
        _ = try encoder.finish()
    }

    /// Hard-links into the destination each source pack whose objects are all `wanted`, and
    /// gives it a copy of the pack's index as it was read; returns the objects now there. Only a
    /// pack no one but root and this user can change is linked (its file would be shared), and
    /// the link must lead to the very file whose entries were checked. A pack that cannot be
    /// linked (another file system, another owner, a file swapped meanwhile) is left to the copy.
    private func linkWholePacks(of stored: PackedEntries, wanted: Set<ObjectID>) throws(BackupError) -> Set<ObjectID> {
        var linked = Set<ObjectID>()
        let directory = destination.objectsDirectory + "/pack"
        for (base, ids) in stored.contents where !ids.isEmpty && ids.allSatisfy(wanted.contains) {
            let name = (base as NSString).lastPathComponent
            let pack = "\(directory)/\(name).pack"
            // The same name is the same bytes (a pack is named by its checksum): already there.
            if FileSystem.exists("\(directory)/\(name).idx") {
                linked.formUnion(ids)
                continue
            }
            guard let (file, index) = stored.opened(base), (file.st_mode & S_IFMT) == S_IFREG,
                  file.st_uid == 0 || file.st_uid == geteuid(), file.st_mode & 0o022 == 0 else { continue }
            // Checked before it is shared, as a copy checks each entry it copies.
            if let damaged = stored.damagedEntry(inPack: base) {
                throw BackupError("cannot read \(damaged) from \(source.path): its entry in \(name).pack does not match the CRC-32 of its index; the repository is damaged (git fsck there says more)")
            }
            // One already there (a fetch killed before its index) passes if it is this file.
            guard link(base + ".pack", pack) == 0 || errno == EEXIST else { continue }
            var placed = stat()
            guard lstat(pack, &placed) == 0, placed.st_dev == file.st_dev, placed.st_ino == file.st_ino,
                  (try? PackFileWriter.installIndex(index, directory: directory, name: name, placePack: {})) != nil else {
                unlink(pack)
                continue
            }
            linked.formUnion(ids)
        }
        return linked
    }

    /// A source commit's tree and all its parents.
    private func commitLinks(_ id: ObjectID) throws(BackupError) -> (tree: ObjectID, parents: [ObjectID]) {
        var oid = id.raw
        var commit: OpaquePointer?
        try gitCheck(git_commit_lookup(&commit, source.pointer, &oid), "cannot read commit \(id) from \(source.path); the repository is damaged")
        defer { git_commit_free(commit) }
        let parents = (0..<git_commit_parentcount(commit)).compactMap { git_commit_parent_id(commit, $0).map { ObjectID($0.pointee) } }
        return (ObjectID(git_commit_tree_id(commit).pointee), parents)
    }
}
