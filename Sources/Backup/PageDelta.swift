import Foundation

/// The delta encoding of one backup: the pages that changed, XOR-ed with their previous version.
///
/// A part is a sequence of records, each an 8-byte big-endian page number (1-based) followed by
/// `pageSize` bytes: the new page XOR the old one (the old one is zeros past the old end of the
/// file). A small change to a page leaves its XOR almost all zeros, which git's zlib compresses to
/// a few dozen bytes; a whole changed page would cost about its full size.
enum PageDelta {
    /// At most this many pages per part, so no single blob holds more than 16 MiB (4 KiB pages).
    static let pagesPerPart = 4096
    /// Full snapshots are cut into chunks of this many bytes (a multiple of every page size).
    static let chunkBytes = 16 << 20

    /// The result of comparing a new snapshot with the previous one in a single pass.
    struct Comparison {
        var changedPages = 0
        var sha256 = ""
        var size = 0
    }

    /// Reads `current` once: hashes it, and hands each changed page's XOR record to `emit`.
    /// `base` is the previous snapshot (nil: everything is new).
    static func compare(
        current: String, base: String?, pageSize: Int,
        emit: (_ pageNumber: Int, _ xor: UnsafeRawBufferPointer) throws(BackupError) -> Void
    ) throws(BackupError) -> Comparison {
        let currentFile = try ReadableFile(current)
        let baseFile = try base.map { (path) throws(BackupError) in try ReadableFile(path) }
        let baseSize = try baseFile?.size() ?? 0
        let hasher = SHA256Hasher()
        let block = max(pageSize, 1 << 20)
        var newBlock = [UInt8](repeating: 0, count: block)
        var oldBlock = [UInt8](repeating: 0, count: block)
        var xor = [UInt8](repeating: 0, count: pageSize)
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
                    oldBlock.withUnsafeBytes { old in memcmp(new.baseAddress! + pageStart, old.baseAddress! + pageStart, length) == 0 }
                }
                if !same {
                    xorPage(&xor, newBlock, oldBlock, at: pageStart, length: length)
                    result.changedPages += 1
                    try xor.withBytes { (raw) throws(BackupError) in try emit((offset + pageStart) / pageSize + 1, raw) }
                }
                pageStart += length
            }
            offset += count
        }
        result.size = offset
        result.sha256 = hasher.finalHex()
        return result
    }

    /// XOR of one page, eight bytes at a time.
    private static func xorPage(_ out: inout [UInt8], _ new: [UInt8], _ old: [UInt8], at start: Int, length: Int) {
        out.withUnsafeMutableBytes { outRaw in
            new.withUnsafeBytes { newRaw in
                old.withUnsafeBytes { oldRaw in
                    let words = length / 8
                    for w in 0..<words {
                        let a = newRaw.loadUnaligned(fromByteOffset: start + w * 8, as: UInt64.self)
                        let b = oldRaw.loadUnaligned(fromByteOffset: start + w * 8, as: UInt64.self)
                        outRaw.storeBytes(of: a ^ b, toByteOffset: w * 8, as: UInt64.self)
                    }
                    for i in (words * 8)..<outRaw.count {
                        outRaw[i] = i < length ? newRaw[start + i] ^ oldRaw[start + i] : 0
                    }
                }
            }
        }
    }

    /// Applies one part to `file` in place: each record's page becomes old XOR record.
    static func apply(part: [UInt8], to file: WritableFile, pageSize: Int, what: String) throws(BackupError) {
        let recordSize = 8 + pageSize
        guard part.count % recordSize == 0 else {
            throw BackupError("\(what) is not a whole number of page records; the backup repository is damaged, restore from another commit with --at")
        }
        let reader = try ReadableFile(file.path)
        var page = [UInt8](repeating: 0, count: pageSize)
        var position = 0
        while position < part.count {
            var number = 0
            for i in 0..<8 { number = number << 8 | Int(part[position + i]) }
            guard number >= 1, number < Int.max / pageSize else {
                throw BackupError("\(what) names page \(number), which cannot exist; the backup repository is damaged")
            }
            let offset = (number - 1) * pageSize
            let count = try reader.read(into: &page, at: offset)
            if count < pageSize { for i in count..<pageSize { page[i] = 0 } }
            part.withUnsafeBytes { recordRaw in
                page.withUnsafeMutableBytes { pageRaw in
                    let words = pageSize / 8
                    for w in 0..<words {
                        let a = pageRaw.loadUnaligned(fromByteOffset: w * 8, as: UInt64.self)
                        let b = recordRaw.loadUnaligned(fromByteOffset: position + 8 + w * 8, as: UInt64.self)
                        pageRaw.storeBytes(of: a ^ b, toByteOffset: w * 8, as: UInt64.self)
                    }
                }
            }
            try page.withBytes { (raw) throws(BackupError) in try file.write(raw, at: offset) }
            position += recordSize
        }
    }
}
