import CGit2
import Foundation

/// Collects a backup's new objects and writes them as packfiles, never as loose objects.
///
/// libgit2 never repacks, so loose objects (one file per blob, tree and commit) would pile up
/// forever. Instead an in-memory backend ("mempack") gets the highest priority in the object
/// database, so every write through the repository lands there, and database chunks go straight
/// to the pack being written (`writeChunk`), deflated on worker threads while the next chunk is
/// read. `flush()` adds the in-memory objects written since the last flush and completes one pack +
/// index under `objects/pack/` (`PackFileWriter`). Objects that already exist on disk are left
/// out, so unchanged chunks cost nothing.
///
/// A pack is complete and indexed before any reference points into it: a process killed in the
/// middle leaves at worst a temporary file (`Leftovers` removes it) or an unreferenced pack, which
/// `git fsck` accepts.
final class PackWriter {
    private let repository: GitRepository
    private let backend: OpaquePointer
    private let odb: OpaquePointer
    /// The on-disk objects only (no mempack): "is this object already stored?"
    private let disk: OpaquePointer
    /// The pack being written since the last flush.
    private let encoder: PackEncoder
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
        encoder = PackEncoder(directory: repository.objectsDirectory + "/pack")
        repository.recordsWrites = true
    }

    deinit {
        git_odb_free(disk)
        git_odb_free(odb)
    }

    /// Notes `count` raw bytes written through the repository since the last flush.
    func noteWritten(_ count: Int) { pendingBytes += count }

    /// Adds a blob (a database chunk) to the pack being written and returns its id. It is deflated
    /// on a worker thread (`PackEntry.Effort.fast`); the blob is readable once `flush` returns.
    func writeChunk(_ bytes: [UInt8]) throws(BackupError) -> ObjectID {
        let id = bytes.withUnsafeBytes { PackEntry.objectID(type: GIT_OBJECT_BLOB, $0) }
        var oid = id.raw
        if git_odb_exists(disk, &oid) != 0 || encoder.contains(id) { return id }
        try encoder.submit(id: id, type: GIT_OBJECT_BLOB, bytes, effort: .fast)
        pendingBytes += bytes.count
        return id
    }

    /// Adds an object already encoded as a pack entry (on the caller's threads: `ParallelBlobs`)
    /// to the pack being written, unless it is stored already; it is readable once `flush` returns.
    func writeEncoded(_ entry: PackEntry) throws(BackupError) {
        var oid = entry.id.raw
        if git_odb_exists(disk, &oid) != 0 || encoder.contains(entry.id) { return }
        try encoder.submit(entry)
        pendingBytes += entry.bytes.count
    }

    /// Writes the objects written since the last flush as one pack; returns its size (0 when
    /// there was nothing new). `progress` hears how many of the pack's objects are in it so far.
    @discardableResult
    func flush(progress: ((_ objects: Int, _ of: Int) -> Void)? = nil) throws(BackupError) -> Int {
        var seen = Set<ObjectID>()
        let fresh = repository.takeWrittenObjects().filter { id in
            var oid = id.raw
            return seen.insert(id).inserted && git_odb_exists(disk, &oid) == 0 && !encoder.contains(id)
        }
        pendingBytes = 0
        for id in fresh {
            var oid = id.raw
            var object: OpaquePointer?
            try gitCheck(git_odb_read(&object, odb, &oid), "cannot read \(id) from the in-memory object store")
            defer { git_odb_object_free(object) }
            let size = git_odb_object_size(object)
            let data = size > 0 ? git_odb_object_data(object).map { Array(UnsafeRawBufferPointer(start: $0, count: size)) } ?? [] : []
            try encoder.submit(id: id, type: git_odb_object_type(object), data, effort: .normal)
        }
        guard let written = try encoder.finish(progress: progress) else {
            try gitCheck(git_mempack_reset(backend), "cannot reset the in-memory object store")
            return 0
        }
        // Only now is it safe to drop the in-memory copies: the pack and its index are on disk.
        git_odb_refresh(disk)
        git_odb_refresh(odb)
        try gitCheck(git_mempack_reset(backend), "cannot reset the in-memory object store")
        packedBytes += written.size
        return written.size
    }
}
