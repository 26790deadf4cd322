import Foundation

/// The delta encoding of one backup: the bytes that changed, as patches.
///
/// A part is a sequence of records, each an 8-byte big-endian file offset, a 4-byte big-endian
/// length, and that many bytes: the new content at that offset. A record never crosses a page
/// boundary. Within a changed page only the changed byte ranges are stored (ranges closer than
/// `mergeGap` bytes are joined, so a header costs less than the bytes it would save): an update
/// of a row rewrites a few dozen bytes of a 4 KiB page, so a delta is a small fraction of the
/// changed pages' size before git's zlib even sees it.
enum PageDelta {
    /// A part is closed once it holds this many bytes (16 MiB), so no blob gets large.
    static let partBytes = 16 << 20
    /// Full snapshots are cut into chunks of this many bytes (a multiple of every page size).
    static let chunkBytes = 16 << 20
    /// Equal runs shorter than this inside a changed page are stored rather than split around.
    static let mergeGap = 16
    /// Bytes of a record's header (offset and length).
    static let headerBytes = 12

    /// The result of comparing a new snapshot with the previous one in a single pass.
    struct Comparison {
        var changedPages = 0
        var sha256 = ""
        var size = 0
    }

    /// Reads `current` once: hashes it, and hands each changed byte range to `emit`.
    /// `base` is the previous snapshot (nil: everything is new). `progress` hears the bytes read
    /// so far after each block.
    static func compare(
        current: String, base: String?, pageSize: Int, progress: ((Int) -> Void)? = nil,
        emit: (_ offset: Int, _ bytes: UnsafeRawBufferPointer) throws(BackupError) -> Void
    ) throws(BackupError) -> Comparison {
        let currentFile = try ReadableFile(current)
        let baseFile = try base.map { (path) throws(BackupError) in try ReadableFile(path) }
        let baseSize = try baseFile?.size() ?? 0
        let hasher = SHA256Hasher()
        let block = max(pageSize, 1 << 20)
        var newBlock = [UInt8](repeating: 0, count: block)
        var oldBlock = [UInt8](repeating: 0, count: block)
        var result = Comparison()
        var offset = 0
        while true {
            let count = try currentFile.read(into: &newBlock, at: offset)
            if count == 0 { break }
            newBlock.withUnsafeBytes { hasher.update(UnsafeRawBufferPointer(rebasing: $0[0..<count])) }
            let oldCount = offset < baseSize ? try baseFile?.read(into: &oldBlock, at: offset) ?? 0 : 0
            if oldCount < count { for i in oldCount..<count { oldBlock[i] = 0 } }
            var pageStart = 0
            while pageStart < count {
                let length = min(pageSize, count - pageStart)
                let same = offset + pageStart + length <= baseSize && newBlock.withUnsafeBytes { new in
                    oldBlock.withUnsafeBytes { old in
                        guard let newBase = new.baseAddress, let oldBase = old.baseAddress else { return false }
                        return memcmp(newBase + pageStart, oldBase + pageStart, length) == 0
                    }
                }
                if !same {
                    result.changedPages += 1
                    let ranges = changedRanges(newBlock, oldBlock, from: pageStart, count: length)
                    for range in ranges {
                        try newBlock.withBytes { (raw) throws(BackupError) in
                            try emit(offset + range.lowerBound, UnsafeRawBufferPointer(rebasing: raw[range]))
                        }
                    }
                    // A new page of zeros differs from nothing it is compared with, yet it grows
                    // the file: an empty record stands for it, so a reader can bound a delta's
                    // growth by its records (Reassembler.layout).
                    if ranges.isEmpty { try emit(offset + pageStart, UnsafeRawBufferPointer(start: nil, count: 0)) }
                }
                pageStart += length
            }
            offset += count
            progress?(offset)
        }
        result.size = offset
        result.sha256 = hasher.finalHex()
        return result
    }

    /// The byte ranges in which `new` and `old` differ within `[start, start + count)`, joining
    /// ranges separated by fewer than `mergeGap` equal bytes.
    static func changedRanges(_ new: [UInt8], _ old: [UInt8], from start: Int, count: Int) -> [Range<Int>] {
        var ranges: [Range<Int>] = []
        new.withUnsafeBytes { newRaw in
            old.withUnsafeBytes { oldRaw in
                let end = start + count
                var i = start
                var open: Int?
                var lastDifferent = start
                while i < end {
                    // Skip equal 8-byte words quickly; only differing words are looked at byte by byte.
                    if i + 8 <= end, newRaw.loadUnaligned(fromByteOffset: i, as: UInt64.self) == oldRaw.loadUnaligned(fromByteOffset: i, as: UInt64.self) {
                        if let first = open, i - lastDifferent >= mergeGap {
                            ranges.append(first..<lastDifferent)
                            open = nil
                        }
                        i += 8
                        continue
                    }
                    if newRaw[i] != oldRaw[i] {
                        if let first = open, i - lastDifferent >= mergeGap {
                            ranges.append(first..<lastDifferent)
                            open = i
                        } else if open == nil {
                            open = i
                        }
                        lastDifferent = i + 1
                    }
                    i += 1
                }
                if let first = open { ranges.append(first..<lastDifferent) }
            }
        }
        return ranges
    }

    /// Applies one part to `file` in place: each record's bytes are written at its offset.
    /// Every record must lie below `limit`, the file's size after this delta: a record beyond it
    /// would only be truncated away, and writing it first could create a huge sparse file.
    static func apply(part: [UInt8], to file: WritableFile, limit: Int, what: String) throws(BackupError) {
        try forEachRecord(in: part, limit: limit, what: what) { (offset, range) throws(BackupError) in
            try part.withBytes { (raw) throws(BackupError) in
                try file.write(UnsafeRawBufferPointer(rebasing: raw[range]), at: offset)
            }
        }
    }

    /// Calls `body` with each record of `part`: the file offset and where its bytes are in `part`,
    /// after checking that the record lies within `part` and below `limit`.
    static func forEachRecord(in part: [UInt8], limit: Int, what: String, _ body: (_ offset: Int, _ bytes: Range<Int>) throws(BackupError) -> Void) throws(BackupError) {
        var position = 0
        while position < part.count {
            guard position + headerBytes <= part.count else {
                throw BackupError("\(what) ends inside a record header; the backup repository is damaged, restore from another commit with --at")
            }
            var offset = 0
            for i in 0..<8 { offset = offset << 8 | Int(part[position + i]) }
            var length = 0
            for i in 8..<12 { length = length << 8 | Int(part[position + i]) }
            let start = position + headerBytes
            guard offset >= 0, offset < 1 << 48, length <= part.count - start, offset + length <= limit else {
                throw BackupError("\(what) has a record at offset \(offset) of \(length) bytes, which cannot be; the backup repository is damaged, restore from another commit with --at")
            }
            try body(offset, start..<(start + length))
            position = start + length
        }
    }
}
