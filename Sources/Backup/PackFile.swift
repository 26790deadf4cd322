import CCrypto
import CGit2
import CIsal
import Foundation

/// One object as it sits in a pack: its id, its entry (type-and-size header, then the zlib
/// stream) and the CRC-32 of that entry, which the pack index records.
struct PackEntry: Sendable {
    var id: ObjectID
    var bytes: [UInt8]
    var crc32: UInt32

    /// How hard an object is deflated. Database chunks are mostly random bytes: zlib's default level
    /// spends five times the time of run-length matching to save 4 % (measured on the bench's
    /// database: 0.788 vs 0.826 of the raw size, 14 vs 50 MB/s), so chunks are stored `fast`, by
    /// ISA-L's level 1 (240 MB/s on one core of the bench machine, 0.81 of the raw size: faster
    /// and smaller than zlib's run-length matching); small objects (trees, manifests, page records)
    /// keep git's default through zlib.
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
        if effort == .fast, let base = data.baseAddress, data.count > 0 {
            // Room for incompressible data: stored blocks add 5 bytes per 64 KiB, plus the headers.
            let capacity = data.count + data.count / 1024 + 1024
            bytes.append(contentsOf: repeatElement(0, count: capacity))
            let written = bytes.withUnsafeMutableBytes { output -> Int in
                guard let out = output.baseAddress else { return 0 }
                return opsd_isal_zlib_deflate(base.assumingMemoryBound(to: UInt8.self), data.count, out.assumingMemoryBound(to: UInt8.self) + headerCount, capacity)
            }
            if written > 0 {
                bytes.removeLast(capacity - written)
                return PackEntry(id: id, bytes: bytes, crc32: crc32(of: bytes))
            }
            // ISA-L could not (out of memory, or more room needed): zlib below always can.
            bytes.removeLast(capacity)
        }
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
        return PackEntry(id: id, bytes: bytes, crc32: crc32(of: bytes))
    }

    /// The CRC-32 a pack index records for an entry (zlib's, computed by ISA-L).
    static func crc32(of bytes: [UInt8]) -> UInt32 {
        bytes.withUnsafeBytes { crc32(continuing: 0, $0) }
    }

    /// The CRC-32 of `crc`'s bytes followed by `bytes`.
    static func crc32(continuing crc: UInt32, _ bytes: UnsafeRawBufferPointer) -> UInt32 {
        guard let base = bytes.baseAddress, bytes.count > 0 else { return crc }
        return crc32_gzip_refl(crc, base.assumingMemoryBound(to: UInt8.self), UInt64(bytes.count))
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
        try Self.installIndex(Self.index(entries, packChecksum: checksum), directory: directory, name: name) { () throws(BackupError) in
            // Packs are read-only, as git makes them.
            fchmod(descriptor, 0o444)
            try FileSystem.rename(temporaryPath, "\(directory)/\(name).pack")
            finished = true
        }
        return (offset + checksum.count, name)
    }

    /// Writes `index` under a temporary name in `directory`, fsynced and read-only, runs
    /// `placePack` (which puts `<name>.pack` in place), and only then renames the index to
    /// `<name>.idx`: git and libgit2 see a pack once its index is there, so never a partial one.
    static func installIndex(_ index: [UInt8], directory: String, name: String, placePack: () throws(BackupError) -> Void) throws(BackupError) {
        let (indexDescriptor, indexPath) = try temporaryFile("\(directory)/tmp_idx_")
        defer { close(indexDescriptor) }
        do throws(BackupError) {
            try write(index, to: indexDescriptor, at: 0, path: indexPath)
            guard fsync(indexDescriptor) == 0 else { throw BackupError("cannot write the pack index \(indexPath): \(String(cString: strerror(errno)))") }
            fchmod(indexDescriptor, 0o444)
            try placePack()
            try FileSystem.rename(indexPath, "\(directory)/\(name).idx")
        } catch {
            unlink(indexPath)
            throw error
        }
        FileSystem.syncDirectory(of: "\(directory)/\(name).idx")
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

    /// Appends an entry that is already encoded (a copy of a stored one), in its turn.
    func submit(_ encoded: PackEntry) throws(BackupError) {
        while inFlight.count >= Self.workers { try appendOldest() }
        let entry = PendingEntry(id: encoded.id)
        entry.finish(.success(encoded))
        inFlight.append(entry)
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

/// The entries of a repository's packs as they are stored, for a push that copies them instead of
/// inflating and deflating each object again (git calls this pack reuse), and for a restore that
/// inflates a full snapshot's chunks itself (`inflateBlob`).
///
/// Only whole objects are reused (types 1-4: what `PackFileWriter` writes); a delta entry (from
/// git's own gc) is not, and the caller encodes that object afresh. Each copied entry is checked
/// against the CRC-32 its index records, so damage at rest is not passed on.
final class PackedEntries: @unchecked Sendable {
    private struct Pack {
        let path: String
        let descriptor: Int32
        /// The pack file as it was opened: a hard link to it must lead to this very file.
        let info: stat
        let index: [UInt8]
        let count: Int
        /// Every entry's offset, ascending, then the trailer's: where each entry ends.
        let ends: [Int]
    }

    /// Set once in `init` and only read after (entries are read with pread): threads share one.
    private let packs: [Pack]

    /// Reads the version 2 indexes in `objectsDirectory/pack` (others are skipped).
    init(objectsDirectory: String) {
        var packs: [Pack] = []
        let directory = objectsDirectory + "/pack"
        for name in (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? [] where name.hasPrefix("pack-") && name.hasSuffix(".idx") {
            let base = directory + "/" + String(name.dropLast(4))
            guard let index = try? FileSystem.readAll(base + ".idx"), index.count >= 1072 + 40,
                  index[0..<8] == [0xff, 0x74, 0x4f, 0x63, 0, 0, 0, 2] else { continue }
            let count = Int(Self.uint32(index, at: 8 + 255 * 4))
            guard index.count >= 1072 + count * 28 else { continue }
            let descriptor = open(base + ".pack", O_RDONLY | O_CLOEXEC)
            guard descriptor >= 0 else { continue }
            var info = stat()
            guard fstat(descriptor, &info) == 0 else { close(descriptor); continue }
            let offsets = (0..<count).map { Self.offset(index, count: count, at: $0) }
            packs.append(Pack(path: base + ".pack", descriptor: descriptor, info: info, index: index, count: count, ends: offsets.sorted() + [Int(info.st_size) - 20]))
        }
        self.packs = packs
    }

    deinit { for pack in packs { close(pack.descriptor) } }

    /// The first entry of pack `base` (a path from `contents`) whose bytes do not match the CRC-32
    /// its index records, or nil when every entry does: damage at rest, found before the pack is
    /// shared with another repository.
    func damagedEntry(inPack base: String) -> ObjectID? {
        guard let pack = packs.first(where: { $0.path == base + ".pack" }) else { return nil }
        var buffer = [UInt8](repeating: 0, count: 1 << 20)
        for (position, id) in contents(of: pack).enumerated() {
            let start = Self.offset(pack.index, count: pack.count, at: position)
            let next = Self.end(of: start, in: pack)
            guard next > start else { return id }
            var crc: UInt32 = 0
            var done = start
            while done < next {
                let n = buffer.withUnsafeMutableBytes { raw in raw.baseAddress.map { pread(pack.descriptor, $0, min(raw.count, next - done), off_t(done)) } ?? -1 }
                if n < 0, errno == EINTR { continue }
                guard n > 0 else { return id }
                crc = buffer.withUnsafeBytes { PackEntry.crc32(continuing: crc, UnsafeRawBufferPointer(rebasing: $0[0..<n])) }
                done += n
            }
            if crc != Self.uint32(pack.index, at: 1032 + pack.count * 20 + position * 4) { return id }
        }
        return nil
    }

    /// Pack `base` (a path from `contents`) as it was opened and read: the file's status, for a
    /// link to be checked against, and its index's bytes, for the destination's own copy.
    func opened(_ base: String) -> (file: stat, index: [UInt8])? {
        packs.first { $0.path == base + ".pack" }.map { ($0.info, $0.index) }
    }

    /// Each pack's path without its extension (`…/objects/pack/pack-<sha1>`) and the objects its
    /// index lists.
    var contents: [(base: String, ids: [ObjectID])] {
        packs.map { pack in (String(pack.path.dropLast(5)), contents(of: pack)) }
    }

    /// The ids a pack's index lists, in the index's order.
    private func contents(of pack: Pack) -> [ObjectID] {
        (0..<pack.count).map { position in
            var oid = git_oid()
            pack.index.withUnsafeBytes { index in
                withUnsafeMutableBytes(of: &oid.id) { $0.copyMemory(from: UnsafeRawBufferPointer(rebasing: index[1032 + position * 20..<1032 + position * 20 + 20])) }
            }
            return ObjectID(oid)
        }
    }

    /// The stored entry of `id`, or nil when it is in no pack as a whole object.
    func entry(_ id: ObjectID) -> PackEntry? {
        guard let (pack, position) = locate(id) else { return nil }
        var bytes: [UInt8] = []
        guard let count = read(pack, position: position, into: &bytes), count == bytes.count else { return nil }
        let type = (bytes[0] >> 4) & 7
        guard (1...4).contains(type) else { return nil }
        let recorded = Self.uint32(pack.index, at: 1032 + pack.count * 20 + position * 4)
        let crc = PackEntry.crc32(of: bytes)
        guard crc == recorded else { return nil }
        return PackEntry(id: id, bytes: bytes, crc32: crc)
    }

    /// Inflates blob `id` into `output`, which must be exactly its size, with ISA-L (faster than
    /// libgit2's zlib, and straight into the caller's buffer); `stored` is scratch space for the
    /// entry, reused between calls. False when the blob is in no pack as a whole object of that
    /// size, or its stream does not inflate to it (the caller reads it through libgit2 then, which
    /// names the damage). The stream's Adler-32 is checked; its CRC-32 is not, the caller hashes
    /// what it reads.
    func inflateBlob(_ id: ObjectID, into output: UnsafeMutableRawBufferPointer, stored: inout [UInt8]) -> Bool {
        guard let (pack, position) = locate(id), let count = read(pack, position: position, into: &stored) else { return false }
        return stored.withUnsafeBytes { entry -> Bool in
            // The header: type 3 (blob) in bits 4-6 of the first byte, then the size, 4 and then 7 bits at a time.
            guard count > 0, (entry[0] >> 4) & 7 == 3 else { return false }
            var size = Int(entry[0] & 0x0f), shift = 4, at = 0
            while entry[at] & 0x80 != 0 {
                at += 1
                guard at < count, shift < 57 else { return false }
                size |= Int(entry[at] & 0x7f) << shift
                shift += 7
            }
            at += 1
            guard size == output.count, let input = entry.baseAddress, let out = output.baseAddress else { return size == 0 && output.count == 0 }
            var produced = 0
            let status = opsd_isal_zlib_inflate(input.assumingMemoryBound(to: UInt8.self) + at, count - at, out.assumingMemoryBound(to: UInt8.self), output.count, &produced)
            return status == 0 && produced == output.count
        }
    }

    /// The pack holding `id` and its position in that pack's index.
    private func locate(_ id: ObjectID) -> (Pack, Int)? {
        let key = withUnsafeBytes(of: id.raw.id) { Array($0.prefix(20)) }
        for pack in packs {
            let first = Int(key[0])
            var low = first == 0 ? 0 : Int(Self.uint32(pack.index, at: 8 + (first - 1) * 4))
            var high = Int(Self.uint32(pack.index, at: 8 + first * 4))
            while low < high {
                let middle = (low + high) / 2
                let start = 1032 + middle * 20
                let name = pack.index[start..<start + 20]
                if name.elementsEqual(key) { return (pack, middle) }
                if name.lexicographicallyPrecedes(key) { low = middle + 1 } else { high = middle }
            }
        }
        return nil
    }

    /// Reads the entry at index position `position` into `bytes` (grown when too small, never
    /// shrunk, so a buffer can be reused); returns the entry's length, nil when it cannot be read.
    private func read(_ pack: Pack, position: Int, into bytes: inout [UInt8]) -> Int? {
        let start = Self.offset(pack.index, count: pack.count, at: position)
        let end = Self.end(of: start, in: pack)
        guard end > start else { return nil }
        let length = end - start
        if bytes.count < length { bytes = [UInt8](repeating: 0, count: length) }
        var done = 0
        while done < length {
            let n = bytes.withUnsafeMutableBytes { raw in raw.baseAddress.map { pread(pack.descriptor, $0 + done, length - done, off_t(start + done)) } ?? -1 }
            if n < 0, errno == EINTR { continue }
            guard n > 0 else { return nil }
            done += n
        }
        return length
    }

    /// Where the entry at offset `start` ends: the next entry's offset, or the trailer's.
    private static func end(of start: Int, in pack: Pack) -> Int {
        var low = 0, high = pack.ends.count - 1
        while low < high {
            let middle = (low + high) / 2
            if pack.ends[middle] <= start { low = middle + 1 } else { high = middle }
        }
        return pack.ends[low]
    }

    private static func offset(_ index: [UInt8], count: Int, at position: Int) -> Int {
        let small = uint32(index, at: 1032 + count * 24 + position * 4)
        guard small & 0x8000_0000 != 0 else { return Int(small) }
        let at = 1032 + count * 28 + Int(small & 0x7fff_ffff) * 8
        guard at + 8 <= index.count else { return 0 }
        return Int(UInt64(uint32(index, at: at)) << 32 | UInt64(uint32(index, at: at + 4)))
    }

    private static func uint32(_ bytes: [UInt8], at position: Int) -> UInt32 {
        bytes[position..<position + 4].reduce(0) { $0 << 8 | UInt32($1) }
    }
}
