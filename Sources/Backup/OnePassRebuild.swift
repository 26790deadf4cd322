import Foundation
import OpsLogging
import Synchronization

/// The page records of a backup's deltas, laid over its full snapshot so the final file can be
/// written in one pass: each region gets the snapshot's bytes (or zeros where a truncation cut them
/// away), then every record that lands in it, in the order the deltas apply them. Only page-record
/// deltas can be laid over like this; a zstd patch needs the whole previous file.
struct PageOverlay: Sendable {
    private struct Record: Sendable {
        let part: Int
        let bytes: Range<Int>
        let offset: Int
        /// Where its surviving bytes end: a later truncation cuts the rest away.
        let end: Int
    }

    private let parts: [[UInt8]]
    private let records: [Record]
    /// Record indices by block of `blockSize` bytes of the file, each in the order the deltas apply them.
    private let blocks: [[Int32]]
    /// The bytes of the full snapshot no delta's truncation reached.
    let basePrefix: Int
    /// The final file's size.
    let size: Int

    static let blockSize = 1 << 20

    /// Reads and checks every delta's parts (page records only; nil when a delta is encoded otherwise).
    init?(_ layout: Reassembler.Layout, repository: GitRepository) throws(BackupError) {
        let manifest = layout.manifest
        guard manifest.deltas.allSatisfy({ $0.encoding == nil }) else { return nil }
        var cut = manifest.size
        var survives = [Int](repeating: 0, count: manifest.deltas.count)
        for index in manifest.deltas.indices.reversed() {
            cut = min(cut, manifest.deltas[index].size)
            survives[index] = cut
        }
        basePrefix = min(manifest.full.size, manifest.deltas.isEmpty ? manifest.size : survives[0])
        size = manifest.size
        var parts: [[UInt8]] = []
        var records: [Record] = []
        for (index, (delta, ids)) in zip(manifest.deltas, layout.deltas).enumerated() {
            for (name, id) in zip(delta.parts, ids) {
                let part = try repository.readBlob(id)
                try PageDelta.forEachRecord(in: part, limit: delta.size, what: "db/\(manifest.name)/\(name)") { (offset, bytes) throws(BackupError) in
                    let end = min(offset + bytes.count, survives[index])
                    if end > offset { records.append(Record(part: parts.count, bytes: bytes, offset: offset, end: end)) }
                }
                parts.append(part)
            }
        }
        var blocks = [[Int32]](repeating: [], count: (size + Self.blockSize - 1) / Self.blockSize)
        for (index, record) in records.enumerated() {
            for block in (record.offset / Self.blockSize)...((record.end - 1) / Self.blockSize) where block < blocks.count {
                blocks[block].append(Int32(index))
            }
        }
        self.parts = parts
        self.records = records
        self.blocks = blocks
    }

    /// Turns `buffer`, which holds the full snapshot's bytes from file offset `start` (zeros past
    /// its end), into the final file's bytes there.
    func patch(_ buffer: UnsafeMutableRawBufferPointer, at start: Int) {
        guard let base = buffer.baseAddress, buffer.count > 0 else { return }
        let end = start + buffer.count
        if end > basePrefix {
            let from = max(start, basePrefix)
            memset(base + (from - start), 0, end - from)
        }
        for block in (start / Self.blockSize)...((end - 1) / Self.blockSize) where block < blocks.count {
            // Each byte is written only in the pass of its own block, so the deltas' order holds.
            let low = max(start, block * Self.blockSize), high = min(end, (block + 1) * Self.blockSize)
            for index in blocks[block] {
                let record = records[Int(index)]
                let from = max(low, record.offset), to = min(high, record.end)
                guard from < to else { continue }
                parts[record.part].withUnsafeBytes { part in
                    guard let source = part.baseAddress else { return }
                    memcpy(base + (from - start), source + record.bytes.lowerBound + (from - record.offset), to - from)
                }
            }
        }
    }
}

/// SHA-256 over pieces made on several threads, hashed in order without copying them: the thread
/// that brings piece `n` waits until pieces 0..<n are hashed, then hashes its own buffer. Threads
/// take the pieces in turn, so the wait is for a neighbour's hash (a few milliseconds of SHA-NI
/// per 16 MiB), not for its inflate.
final class OrderedDigest: @unchecked Sendable {
    /// Guards `next`, `abandoned` and the hasher.
    private let condition = NSCondition()
    private var next = 0
    private var abandoned = false
    private let hasher = SHA256Hasher()

    /// Hashes piece `index` (0, 1, 2…; each exactly once) once every piece before it is hashed.
    /// False when the digest was abandoned meanwhile.
    @discardableResult
    func add(_ index: Int, _ bytes: UnsafeRawBufferPointer) -> Bool {
        condition.lock()
        defer { condition.unlock() }
        while next != index, !abandoned { condition.wait() }
        guard !abandoned else { return false }
        hasher.update(bytes)
        next += 1
        condition.broadcast()
        return true
    }

    /// Releases every thread waiting in `add`: a piece will never come (its thread failed).
    func abandon() {
        condition.lock()
        abandoned = true
        condition.broadcast()
        condition.unlock()
    }

    /// The digest of every piece, once all are added.
    func finalHex() -> String { hasher.finalHex() }
}

/// Reads a full snapshot's chunks on one thread into one buffer of its own, reused from chunk to
/// chunk: whole entries of the packs are inflated by ISA-L straight into it (`PackedEntries`), the
/// rest (a delta from git's own gc, a loose object) come through libgit2. Fresh memory for every
/// 16 MiB chunk, as `readBlob`'s arrays were, costs a page fault per 4 KiB.
struct ChunkReader {
    private let entries: PackedEntries
    private let repository: GitRepository
    private var buffer: [UInt8]
    private var stored: [UInt8] = []

    /// A reader for chunks of at most `largest` bytes; `repository` is this thread's own handle.
    init(entries: PackedEntries, repository: GitRepository, largest: Int) {
        self.entries = entries
        self.repository = repository
        buffer = [UInt8](repeating: 0, count: largest)
    }

    /// Reads chunk `id` of `size` bytes (its size as the layout measured it) and hands its first
    /// `keep` bytes to `body`, which may change them.
    mutating func withChunk<Result>(
        _ id: ObjectID, size: Int, keep: Int, _ body: (UnsafeMutableRawBufferPointer) throws(BackupError) -> Result
    ) throws(BackupError) -> Result {
        if buffer.count < size { buffer = [UInt8](repeating: 0, count: size) }
        let inflated = buffer.withUnsafeMutableBytes { raw in
            entries.inflateBlob(id, into: UnsafeMutableRawBufferPointer(rebasing: raw[0..<size]), stored: &stored)
        }
        if !inflated {
            let bytes = try repository.readBlob(id)
            guard bytes.count == size else {
                throw BackupError("object \(id) has \(bytes.count) bytes instead of \(size); the repository is damaged, restore from another commit with --at")
            }
            bytes.withUnsafeBytes { source in buffer.withUnsafeMutableBytes { UnsafeMutableRawBufferPointer(rebasing: $0[0..<size]).copyMemory(from: source) } }
        }
        return try buffer.withMutableBytes { (raw) throws(BackupError) -> Result in
            try body(UnsafeMutableRawBufferPointer(rebasing: raw[0..<min(keep, size)]))
        }
    }
}

extension Reassembler {
    /// Writes the final file in one pass when every delta is page records, hashing what it writes
    /// instead of reading the file back: the chunks are inflated on up to four threads, each laid
    /// over with the records that land in it and written at its offset, and hashed in order.
    /// Returns the SHA-256 of the file written.
    func writeInOnePass(_ layout: Layout, overlay: PageOverlay, to file: WritableFile) throws(BackupError) -> String {
        let size = overlay.size
        try file.truncate(to: size)
        let digest = OrderedDigest()
        try forEachChunk(of: layout) { (index, start, bytes) throws(BackupError) in
            // A truncation below the snapshot's end leaves only the part before it (`keep`).
            overlay.patch(bytes, at: start)
            try file.write(UnsafeRawBufferPointer(bytes), at: start)
            guard digest.add(index, UnsafeRawBufferPointer(bytes)) else { throw BackupError("the restore stopped") }
        } keep: { start in max(0, size - start) } failed: {
            digest.abandon()
        }
        // What the deltas grew past the snapshot: zeros and their records.
        var position = layout.manifest.full.size, piece = layout.chunks.count
        while position < size {
            var block = [UInt8](repeating: 0, count: min(PageOverlay.blockSize, size - position))
            block.withUnsafeMutableBytes { overlay.patch($0, at: position) }
            try block.withBytes { (raw) throws(BackupError) in try file.write(raw, at: position) }
            _ = block.withUnsafeBytes { digest.add(piece, $0) }
            position += block.count
            piece += 1
        }
        return digest.finalHex()
    }

    /// Runs `body` for every chunk of the full snapshot (its index, its offset in the file, and its
    /// first `keep(offset)` bytes, which `body` may change) on up to four threads, each with its
    /// own repository handle (libgit2 objects are not thread-safe) and `ChunkReader`. Inflating
    /// the chunks is most of a restore's time. On the first error the other threads stop at their
    /// next chunk, `failed` runs (to release a thread waiting for a piece that will never come),
    /// and the error is thrown.
    func forEachChunk(
        of layout: Layout,
        _ body: @escaping @Sendable (_ index: Int, _ offset: Int, _ bytes: UnsafeMutableRawBufferPointer) throws(BackupError) -> Void,
        keep: @escaping @Sendable (_ offset: Int) -> Int = { _ in .max },
        failed: @escaping @Sendable () -> Void = {}
    ) throws(BackupError) {
        let chunks = layout.chunks
        let end = layout.manifest.full.size
        let sizes = chunks.indices.map { ($0 + 1 < chunks.count ? chunks[$0 + 1].offset : end) - chunks[$0].offset }
        let largest = sizes.max() ?? 0
        let workers = max(1, min(ProcessInfo.processInfo.activeProcessorCount, 4, chunks.count))
        let failure = Mutex<BackupError?>(nil)
        let path = repository.path
        let progress = progress
        let entries = PackedEntries(objectsDirectory: repository.objectsDirectory)
        DispatchQueue.concurrentPerform(iterations: workers) { worker in
            do throws(BackupError) {
                var reader = ChunkReader(entries: entries, repository: try GitRepository.openOrCreate(at: path), largest: largest)
                for index in stride(from: worker, to: chunks.count, by: workers) {
                    if failure.withLock({ $0 != nil }) { return }
                    let start = chunks[index].offset
                    try reader.withChunk(chunks[index].id, size: sizes[index], keep: keep(start)) { (bytes) throws(BackupError) in
                        try body(index, start, bytes)
                    }
                    progress?.add(sizes[index])
                }
            } catch {
                let first = failure.withLock { (stored: inout BackupError?) -> Bool in
                    defer { stored = stored ?? error }
                    return stored == nil
                }
                if first { failed() }
            }
        }
        if let error = failure.withLock({ $0 }) { throw error }
    }
}
