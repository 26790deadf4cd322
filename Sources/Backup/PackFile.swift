import CCrypto
import CGit2
import Foundation

/// One object as it sits in a pack: its id, its entry (type-and-size header, then the zlib
/// stream) and the CRC-32 of that entry, which the pack index records.
struct PackEntry: Sendable {
    var id: ObjectID
    var bytes: [UInt8]
    var crc32: UInt32

    /// How hard an object is deflated. Database chunks are mostly random bytes: zlib's default level
    /// spends five times the time of run-length matching to save 4 % (measured on the bench's
    /// database: 0.788 vs 0.826 of the raw size, 14 vs 50 MB/s), so chunks are stored `fast`;
    /// small objects (trees, manifests, page records) keep git's default.
    enum Effort: Sendable {
        case fast
        case normal
    }

    /// The git object id of `data` as an object of `type` (SHA-1 over "<type> <size>\0" + data).
    static func objectID(type: git_object_t, _ data: UnsafeRawBufferPointer) -> ObjectID {
        let hasher = SHA256Hasher(algorithm: .sha1)
        let name: String
        switch type {
        case GIT_OBJECT_COMMIT: name = "commit"
        case GIT_OBJECT_TREE: name = "tree"
        case GIT_OBJECT_TAG: name = "tag"
        default: name = "blob"
        }
        hasher.update(Array("\(name) \(data.count)\0".utf8))
        hasher.update(data)
        var oid = git_oid()
        hasher.finalBytes().withUnsafeBytes { digest in
            withUnsafeMutableBytes(of: &oid.id) { $0.copyMemory(from: UnsafeRawBufferPointer(rebasing: digest.prefix(20))) }
        }
        return ObjectID(oid)
    }

    /// The entry for an object whose id is already known: header and deflated data.
    static func encode(id: ObjectID, type: git_object_t, _ data: UnsafeRawBufferPointer, effort: Effort) throws(BackupError) -> PackEntry {
        var bytes = header(type: type, size: data.count)
        let headerCount = bytes.count
        var stream = z_stream()
        let level = effort == .fast ? Z_BEST_SPEED : Z_DEFAULT_COMPRESSION
        let strategy = effort == .fast ? Z_RLE : Z_DEFAULT_STRATEGY
        guard deflateInit2_(&stream, level, Z_DEFLATED, 15, 8, strategy, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
            throw BackupError("cannot start zlib compression (out of memory)")
        }
        defer { deflateEnd(&stream) }
        let bound = Int(deflateBound(&stream, uLong(data.count)))
        bytes.append(contentsOf: repeatElement(0, count: bound))
        let result: Int32 = bytes.withUnsafeMutableBytes { output in
            stream.next_in = UnsafeMutablePointer(mutating: data.baseAddress?.assumingMemoryBound(to: Bytef.self))
            stream.avail_in = uInt(data.count)
            stream.next_out = output.baseAddress.map { ($0 + headerCount).assumingMemoryBound(to: Bytef.self) }
            stream.avail_out = uInt(bound)
            return deflate(&stream, Z_FINISH)
        }
        guard result == Z_STREAM_END else { throw BackupError("zlib failed to compress object \(id) (\(result))") }
        bytes.removeLast(Int(stream.avail_out))
        let crc = bytes.withUnsafeBytes { UInt32(CGit2.crc32(0, $0.baseAddress?.assumingMemoryBound(to: Bytef.self), uInt($0.count))) }
        return PackEntry(id: id, bytes: bytes, crc32: crc)
    }

    /// A pack entry's header: type in bits 4-6 of the first byte, then the size, 4 bits and then 7
    /// bits at a time, each byte's top bit saying another follows.
    static func header(type: git_object_t, size: Int) -> [UInt8] {
        var bytes: [UInt8] = []
        var rest = size >> 4
        var byte = UInt8(truncatingIfNeeded: (Int(type.rawValue) << 4) | (size & 0x0f))
        while rest > 0 {
            bytes.append(byte | 0x80)
            byte = UInt8(truncatingIfNeeded: rest & 0x7f)
            rest >>= 7
        }
        bytes.append(byte)
        return bytes
    }
}

/// A pack and its version 2 index, written by hand (docs/backup-format.md: the repository is plain git).
///
/// libgit2's packbuilder deflates every object again at zlib's default level on one thread, and
/// its indexer inflates and hashes the pack once more to index it; both were most of a full
/// backup's time. Here entries arrive already deflated (on several threads, `PackEntry.encode`),
/// and the index is made from what the writer already knows.
///
/// Crash safety, as git does it: the pack is written under `tmp_pack_*`, the index under
/// `tmp_idx_*` (`Leftovers` removes both after a kill), each fsynced, then the pack is renamed into
/// place and the index last: an object is visible only once its pack is complete.
final class PackFileWriter {
    let directory: String
    private let temporaryPath: String
    private let descriptor: Int32
    private var offset = 12
    private var entries: [(id: ObjectID, offset: Int, crc32: UInt32)] = []
    private var ids = Set<ObjectID>()
    private var finished = false

    /// Starts a pack in `directory` (an `objects/pack`).
    init(directory: String) throws(BackupError) {
        self.directory = directory
        (descriptor, temporaryPath) = try Self.temporaryFile("\(directory)/tmp_pack_")
        // The header's object count is filled in by `finish`.
        try write([UInt8](repeating: 0, count: 12), at: 0)
    }

    deinit {
        close(descriptor)
        if !finished { unlink(temporaryPath) }
    }

    /// Objects in the pack so far.
    var count: Int { entries.count }

    /// True when `id` is already in this pack.
    func contains(_ id: ObjectID) -> Bool { ids.contains(id) }

    /// Appends an entry (a second copy of an object already in the pack is ignored).
    func append(_ entry: PackEntry) throws(BackupError) {
        guard ids.insert(entry.id).inserted else { return }
        try write(entry.bytes, at: offset)
        entries.append((entry.id, offset, entry.crc32))
        offset += entry.bytes.count
    }

    /// Completes the pack (header, SHA-1 trailer, index) and moves it into place; returns its size
    /// in bytes and its name (`pack-<sha1>`). The caller must not append afterwards.
    func finish() throws(BackupError) -> (size: Int, name: String) {
        var header: [UInt8] = Array("PACK".utf8)
        header += bigEndian(UInt32(2)) + bigEndian(UInt32(entries.count))
        try write(header, at: 0)
        // The trailer hashes the whole pack, header included, so the pack is read once more
        // (from the page cache; SHA-1 runs at several hundred MB/s).
        let hasher = SHA256Hasher(algorithm: .sha1)
        var buffer = [UInt8](repeating: 0, count: 1 << 20)
        var position = 0
        while position < offset {
            let wanted = min(buffer.count, offset - position)
            let n = buffer.withUnsafeMutableBytes { pread(descriptor, $0.baseAddress, wanted, off_t(position)) }
            if n < 0, errno == EINTR { continue }
            guard n > 0 else { throw BackupError("cannot read back the pack \(temporaryPath): \(String(cString: strerror(errno)))") }
            buffer.withUnsafeBytes { hasher.update(UnsafeRawBufferPointer(rebasing: $0[0..<n])) }
            position += n
        }
        let checksum = hasher.finalBytes()
        try write(checksum, at: offset)
        guard fsync(descriptor) == 0 else { throw BackupError("cannot write the pack \(temporaryPath): \(String(cString: strerror(errno)))") }
        let name = "pack-" + hex(checksum)
        let index = Self.index(entries, packChecksum: checksum)
        let (indexDescriptor, indexPath) = try Self.temporaryFile("\(directory)/tmp_idx_")
        defer { close(indexDescriptor) }
        do throws(BackupError) {
            try Self.write(index, to: indexDescriptor, at: 0, path: indexPath)
            guard fsync(indexDescriptor) == 0 else { throw BackupError("cannot write the pack index \(indexPath): \(String(cString: strerror(errno)))") }
            // Packs are read-only, as git makes them.
            fchmod(descriptor, 0o444)
            fchmod(indexDescriptor, 0o444)
            try FileSystem.rename(temporaryPath, "\(directory)/\(name).pack")
            finished = true
            try FileSystem.rename(indexPath, "\(directory)/\(name).idx")
        } catch {
            unlink(indexPath)
            throw error
        }
        FileSystem.syncDirectory(of: "\(directory)/\(name).idx")
        return (offset + checksum.count, name)
    }

    /// A version 2 pack index: fan-out table, sorted ids, CRC-32s, 31-bit offsets (the top bit
    /// pointing into a table of 64-bit ones for packs past 2 GiB), pack checksum, own checksum.
    static func index(_ entries: [(id: ObjectID, offset: Int, crc32: UInt32)], packChecksum: [UInt8]) -> [UInt8] {
        let sorted = entries.map { (bytes: rawBytes($0.id), offset: $0.offset, crc32: $0.crc32) }.sorted { $0.bytes.lexicographicallyPrecedes($1.bytes) }
        var out: [UInt8] = [0xff, 0x74, 0x4f, 0x63] + bigEndian(UInt32(2))
        var fanout = [UInt32](repeating: 0, count: 256)
        for entry in sorted { fanout[Int(entry.bytes[0])] += 1 }
        var running: UInt32 = 0
        for slot in 0..<256 {
            running += fanout[slot]
            out += bigEndian(running)
        }
        for entry in sorted { out += entry.bytes }
        for entry in sorted { out += bigEndian(entry.crc32) }
        var large: [UInt8] = []
        var largeCount: UInt32 = 0
        for entry in sorted {
            if entry.offset < 0x8000_0000 {
                out += bigEndian(UInt32(entry.offset))
            } else {
                out += bigEndian(0x8000_0000 | largeCount)
                large += bigEndian(UInt64(entry.offset))
                largeCount += 1
            }
        }
        out += large
        out += packChecksum
        let hasher = SHA256Hasher(algorithm: .sha1)
        hasher.update(out)
        return out + hasher.finalBytes()
    }

    /// A new file `<prefix><6 random characters>` (mkstemp: mode 0600, never an existing file).
    private static func temporaryFile(_ prefix: String) throws(BackupError) -> (Int32, String) {
        var template = Array((prefix + "XXXXXX").utf8CString)
        let descriptor = template.withUnsafeMutableBufferPointer { buffer in buffer.baseAddress.map { mkstemp($0) } ?? -1 }
        guard descriptor >= 0 else { throw BackupError("cannot create \(prefix)XXXXXX: \(String(cString: strerror(errno)))") }
        return (descriptor, String(decoding: template.dropLast().map { UInt8(bitPattern: $0) }, as: UTF8.self))
    }

    private func write(_ bytes: [UInt8], at position: Int) throws(BackupError) {
        try Self.write(bytes, to: descriptor, at: position, path: temporaryPath)
    }

    private static func write(_ bytes: [UInt8], to descriptor: Int32, at position: Int, path: String) throws(BackupError) {
        var done = 0
        while done < bytes.count {
            let n = bytes.withUnsafeBytes { raw in raw.baseAddress.map { pwrite(descriptor, $0 + done, raw.count - done, off_t(position + done)) } ?? -1 }
            if n < 0, errno == EINTR { continue }
            guard n > 0 else { throw BackupError("cannot write \(path): \(String(cString: strerror(errno)))") }
            done += n
        }
    }

    private static func rawBytes(_ id: ObjectID) -> [UInt8] {
        withUnsafeBytes(of: id.raw.id) { Array($0.prefix(20)) }
    }
}

private func bigEndian<T: FixedWidthInteger>(_ value: T) -> [UInt8] {
    withUnsafeBytes(of: value.bigEndian) { Array($0) }
}

/// Deflates entries on worker threads, as many at once as there are cores, and appends them to
/// one pack in the order they were submitted (so the same objects make the same pack).
final class PackEncoder {
    let directory: String
    private var pack: PackFileWriter?
    /// Entries being deflated, oldest first.
    private var inFlight: [PendingEntry] = []

    /// How many entries are deflated at once: every core, and no more (each holds an object).
    static let workers = max(1, min(ProcessInfo.processInfo.activeProcessorCount, 4))

    /// Encodes into a pack in `directory` (an `objects/pack`), created at the first entry.
    init(directory: String) { self.directory = directory }

    deinit {
        // The workers hold no reference to this encoder; wait so none outlives it.
        for entry in inFlight { entry.wait() }
    }

    /// Entries submitted and not yet finished.
    var count: Int { (pack?.count ?? 0) + inFlight.count }

    /// True when `id` is in the pack or on its way there.
    func contains(_ id: ObjectID) -> Bool {
        pack?.contains(id) == true || inFlight.contains { $0.id == id }
    }

    /// Deflates `bytes` on a worker thread once one is free; entries that finished meanwhile go
    /// into the pack.
    func submit(id: ObjectID, type: git_object_t, _ bytes: [UInt8], effort: PackEntry.Effort) throws(BackupError) {
        while inFlight.count >= Self.workers { try appendOldest() }
        let entry = PendingEntry(id: id)
        inFlight.append(entry)
        DispatchQueue.global().async {
            entry.finish(Result { () throws(BackupError) in
                try bytes.withBytes { (raw) throws(BackupError) in try PackEntry.encode(id: id, type: type, raw, effort: effort) }
            })
        }
    }

    /// Completes the pack; nil when nothing was submitted. `progress` hears the entries appended.
    func finish(progress: ((_ objects: Int, _ of: Int) -> Void)? = nil) throws(BackupError) -> (size: Int, name: String)? {
        let total = count
        while !inFlight.isEmpty {
            try appendOldest()
            progress?(total - inFlight.count, total)
        }
        guard let pack else { return nil }
        self.pack = nil
        return try pack.finish()
    }

    private func appendOldest() throws(BackupError) {
        guard !inFlight.isEmpty else { return }
        let entry = inFlight.removeFirst()
        let encoded = try entry.wait().get()
        if pack == nil { pack = try PackFileWriter(directory: directory) }
        try pack?.append(encoded)
    }
}

/// One entry being deflated on a worker thread, and the thread that waits for it.
private final class PendingEntry: @unchecked Sendable {
    let id: ObjectID
    private let done = DispatchSemaphore(value: 0)
    // Written once by the worker before `done` is signalled, read only after waiting for it.
    private var result: Result<PackEntry, BackupError>?
    // The owner's thread only.
    private var waited = false

    init(id: ObjectID) { self.id = id }

    func finish(_ result: Result<PackEntry, BackupError>) {
        self.result = result
        done.signal()
    }

    /// Waits for the worker (once; later calls return at once).
    @discardableResult
    func wait() -> Result<PackEntry, BackupError> {
        if !waited {
            done.wait()
            waited = true
        }
        return result ?? .failure(BackupError("a pack entry was never deflated"))
    }
}
