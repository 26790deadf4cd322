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

/// SHA-256 over pieces that arrive out of order from several threads, hashed in order: a piece
/// waits until the ones before it are in, and whichever thread brings the missing one hashes
/// everything now in sequence.
final class OrderedDigest: @unchecked Sendable {
    private struct State {
        var next = 0
        var waiting: [Int: [UInt8]] = [:]
        var hashing = false
    }

    private let state = Mutex(State())
    /// Touched only by the thread that set `hashing`, so never by two at once.
    private let hasher = SHA256Hasher()

    /// Adds piece `index` (0, 1, 2…; each exactly once).
    func add(_ index: Int, _ bytes: [UInt8]) {
        let mine = state.withLock { state -> Bool in
            state.waiting[index] = bytes
            if state.hashing { return false }
            state.hashing = true
            return true
        }
        guard mine else { return }
        while let piece = state.withLock({ state -> [UInt8]? in
            guard let piece = state.waiting.removeValue(forKey: state.next) else {
                state.hashing = false
                return nil
            }
            state.next += 1
            return piece
        }) {
            hasher.update(piece)
        }
    }

    /// The digest of every piece, once all are added.
    func finalHex() -> String { hasher.finalHex() }
}

extension Reassembler {
    /// Writes the final file in one pass when every delta is page records, hashing what it writes
    /// instead of reading the file back: the chunks are inflated on up to four threads, each laid
    /// over with the records that land in it and written at its offset, and hashed in order.
    /// Returns the SHA-256 of the file written.
    func writeInOnePass(_ layout: Layout, overlay: PageOverlay, to file: WritableFile) throws(BackupError) -> String {
        let size = overlay.size
        try file.truncate(to: size)
        let chunks = layout.chunks
        let workers = max(1, min(ProcessInfo.processInfo.activeProcessorCount, 4, chunks.count))
        let failure = Mutex<BackupError?>(nil)
        let path = repository.path
        let progress = progress
        let digest = OrderedDigest()
        DispatchQueue.concurrentPerform(iterations: workers) { worker in
            do throws(BackupError) {
                let handle = try GitRepository.openOrCreate(at: path)
                for index in stride(from: worker, to: chunks.count, by: workers) {
                    if failure.withLock({ $0 != nil }) { return }
                    var bytes = try handle.readBlob(chunks[index].id)
                    let start = chunks[index].offset
                    // A truncation below the snapshot's end leaves only the part before it.
                    bytes.removeLast(max(0, bytes.count - max(0, size - start)))
                    bytes.withUnsafeMutableBytes { overlay.patch($0, at: start) }
                    try bytes.withBytes { (raw) throws(BackupError) in try file.write(raw, at: start) }
                    progress?.add(bytes.count)
                    digest.add(index, bytes)
                }
            } catch {
                failure.withLock { $0 = $0 ?? error }
            }
        }
        if let error = failure.withLock({ $0 }) { throw error }
        // What the deltas grew past the snapshot: zeros and their records.
        var position = layout.manifest.full.size, piece = chunks.count
        while position < size {
            var block = [UInt8](repeating: 0, count: min(PageOverlay.blockSize, size - position))
            block.withUnsafeMutableBytes { overlay.patch($0, at: position) }
            try block.withBytes { (raw) throws(BackupError) in try file.write(raw, at: position) }
            digest.add(piece, block)
            position += block.count
            piece += 1
        }
        return digest.finalHex()
    }
}
