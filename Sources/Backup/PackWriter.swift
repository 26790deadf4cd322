import CGit2
import Foundation

/// Collects a backup's new objects in memory and writes them as packfiles, never as loose objects.
///
/// libgit2 never repacks, so loose objects (one file per blob, tree and commit) would pile up
/// forever. Instead an in-memory backend ("mempack") gets the highest priority in the object
/// database, so every write lands there; `flush()` hands the objects written since the last flush
/// to libgit2's packbuilder, which writes one pack + index under `objects/pack/`. Objects that
/// already exist on disk are left out, so unchanged chunks cost nothing.
///
/// A pack is complete and indexed before any reference points into it: a process killed in the
/// middle leaves at worst an unreferenced pack, which `git fsck` accepts.
final class PackWriter {
    private let repository: GitRepository
    private let backend: OpaquePointer
    private let odb: OpaquePointer
    /// The on-disk objects only (no mempack): "is this object already stored?"
    private let disk: OpaquePointer
    /// Raw bytes written since the last flush, to bound memory.
    private(set) var pendingBytes = 0
    /// Bytes of pack files written so far (what this backup adds to the repository).
    private(set) var packedBytes = 0

    /// Attaches a fresh in-memory backend to `repository`. The repository handle must be used for
    /// this backup only: libgit2 has no call to detach a backend, it goes with the handle.
    init(repository: GitRepository) throws(BackupError) {
        self.repository = repository
        var odb: OpaquePointer?
        try gitCheck(git_repository_odb(&odb, repository.pointer), "cannot open the object database of \(repository.path)")
        var disk: OpaquePointer?
        try gitCheck(git_odb_open(&disk, repository.objectsDirectory), "cannot open the object database of \(repository.path)")
        var backend: OpaquePointer?
        try gitCheck(git_mempack_new(&backend), "cannot create an in-memory object store")
        guard let odb, let disk, let backend else { throw BackupError("cannot create an in-memory object store") }
        try gitCheck(git_odb_add_backend(odb, backend, 1000), "cannot attach the in-memory object store")
        self.odb = odb
        self.disk = disk
        self.backend = backend
        repository.recordsWrites = true
    }

    deinit {
        git_odb_free(disk)
        git_odb_free(odb)
    }

    /// Notes `count` raw bytes written through the repository since the last flush.
    func noteWritten(_ count: Int) { pendingBytes += count }

    /// Writes the objects written since the last flush as one pack; returns its size (0 when
    /// there was nothing new). `progress` hears how many of the pack's objects are in it so far.
    @discardableResult
    func flush(progress: ((_ objects: Int, _ of: Int) -> Void)? = nil) throws(BackupError) -> Int {
        var seen = Set<ObjectID>()
        let fresh = repository.takeWrittenObjects().filter { id in
            var oid = id.raw
            return seen.insert(id).inserted && git_odb_exists(disk, &oid) == 0
        }
        pendingBytes = 0
        guard !fresh.isEmpty else {
            try gitCheck(git_mempack_reset(backend), "cannot reset the in-memory object store")
            return 0
        }
        var builder: OpaquePointer?
        try gitCheck(git_packbuilder_new(&builder, repository.pointer), "cannot start a pack")
        defer { git_packbuilder_free(builder) }
        git_packbuilder_set_threads(builder, 0)
        for id in fresh {
            var oid = id.raw
            try gitCheck(git_packbuilder_insert(builder, &oid, nil), "cannot add \(id) to a pack")
        }
        let directory = repository.objectsDirectory + "/pack"
        let listener = progress.map(PackProgress.init)
        let written = withExtendedLifetime(listener) {
            git_packbuilder_write(
                builder, directory, 0, listener == nil ? nil : packProgressCallback, listener.map { Unmanaged.passUnretained($0).toOpaque() })
        }
        try gitCheck(written, "cannot write a pack to \(directory)")
        // Only now is it safe to drop the in-memory copies: the pack and its index are on disk.
        git_odb_refresh(disk)
        git_odb_refresh(odb)
        try gitCheck(git_mempack_reset(backend), "cannot reset the in-memory object store")
        let name = git_packbuilder_name(builder).map { String(cString: $0) } ?? ""
        var info = stat()
        let size = stat("\(directory)/pack-\(name).pack", &info) == 0 ? Int(info.st_size) : 0
        packedBytes += size
        return size
    }
}

/// The flush's progress closure, behind the payload pointer of libgit2's indexer callback.
private final class PackProgress {
    let report: (_ objects: Int, _ of: Int) -> Void
    init(_ report: @escaping (_ objects: Int, _ of: Int) -> Void) { self.report = report }
}

private let packProgressCallback: git_indexer_progress_cb = { stats, payload in
    guard let stats, let payload else { return 0 }
    Unmanaged<PackProgress>.fromOpaque(payload).takeUnretainedValue().report(Int(stats.pointee.received_objects), Int(stats.pointee.total_objects))
    return 0
}
