import CZstd
import Foundation

/// The second delta encoding: one zstd frame made with the previous version of the file as its
/// reference prefix, exactly what `zstd --patch-from=OLD NEW` writes, so Debian's `zstd -d
/// --long=31 --patch-from=OLD` restores it by hand.
///
/// Page records store the changed byte ranges of each page, which is small for ordinary churn but
/// the whole file once content moves across pages (a `VACUUM` rewrites every page). A zstd patch
/// finds the moved bytes wherever they went: measured on a 50 MiB database after `VACUUM`, 1.5 %
/// of the file against 97 % as page records.
enum ZstdPatch {
    /// The manifest's `encoding` for this format (absent: page records).
    static let encoding = "zstd-patch"
    /// zstd's default level, as `zstd --patch-from` uses it: most of the gain is in the long
    /// matches against the reference, which higher levels barely improve for far more time.
    static let level: Int32 = 3
    /// The largest window zstd allows on 64-bit systems (2 GiB); `--long=31` accepts any frame.
    static let maximumWindowLog = 31
    /// Bytes of output a block can make from the fewest bytes of input (a 3-byte block header and
    /// one byte, up to 128 KiB of output): what bounds a frame's size by its compressed size.
    static let maximumExpansion = (128 << 10) / 4

    /// The window that lets every byte of the new version reach back to the start of the
    /// reference, computed as the zstd CLI does for `--patch-from`: twice the larger of the two.
    static func windowLog(referenceSize: Int, contentSize: Int) -> Int32 {
        let largest = max(referenceSize, contentSize, 1)
        let highestBit = Int.bitWidth - 1 - largest.leadingZeroBitCount
        return Int32(min(max(highestBit + 1, 10), maximumWindowLog))
    }

    /// Encodes `current` against `reference` (both files, mapped, not copied), or returns nil as
    /// soon as the frame would exceed `limit` bytes: the caller keeps the page records then.
    static func encode(current: String, reference: String, limit: Int) throws(BackupError) -> [UInt8]? {
        let new = try MappedFile(current)
        let old = try MappedFile(reference)
        guard let context = ZSTD_createCCtx() else { throw BackupError("zstd cannot allocate a compression context; the machine is out of memory") }
        defer { ZSTD_freeCCtx(context) }
        let window = windowLog(referenceSize: old.bytes.count, contentSize: new.bytes.count)
        try check(ZSTD_CCtx_setParameter(context, ZSTD_c_compressionLevel, level), "set the level")
        try check(ZSTD_CCtx_setParameter(context, ZSTD_c_windowLog, window), "set the window")
        // Long-distance matching finds the reference's bytes wherever they moved, as the CLI
        // switches it on for --patch-from once the window outgrows the match finder's reach.
        try check(ZSTD_CCtx_setParameter(context, ZSTD_c_enableLongDistanceMatching, 1), "enable long-distance matching")
        try check(ZSTD_CCtx_setParameter(context, ZSTD_c_checksumFlag, 1), "enable the checksum")
        // The input is the whole mapped file: no copy of it into zstd's own window buffer.
        try check(ZSTD_CCtx_setParameter(context, czstd_c_stableInBuffer, 1), "use the mapped input in place")
        try check(ZSTD_CCtx_setPledgedSrcSize(context, UInt64(new.bytes.count)), "declare the content size")
        try check(ZSTD_CCtx_refPrefix(context, old.bytes.baseAddress, old.bytes.count), "reference the previous version")
        var frame: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 1 << 20)
        var input = ZSTD_inBuffer(src: new.bytes.baseAddress, size: new.bytes.count, pos: 0)
        while true {
            var produced = 0
            let remaining = chunk.withUnsafeMutableBytes { raw in
                var output = ZSTD_outBuffer(dst: raw.baseAddress, size: raw.count, pos: 0)
                defer { produced = output.pos }
                return ZSTD_compressStream2(context, &output, &input, ZSTD_e_end)
            }
            try check(remaining, "compress \(current)")
            frame.append(contentsOf: chunk[0..<produced])
            if frame.count > limit { return nil }
            if remaining == 0 { return frame }
        }
    }

    /// The content size a frame's header declares, or nil when the bytes do not start a zstd
    /// frame that declares one.
    static func declaredSize(of frame: [UInt8]) -> Int? {
        let size = frame.withUnsafeBytes { ZSTD_getFrameContentSize($0.baseAddress, $0.count) }
        // ZSTD_CONTENTSIZE_UNKNOWN and ZSTD_CONTENTSIZE_ERROR are the two largest values.
        guard size < UInt64.max - 1, size <= UInt64(Int.max) else { return nil }
        return Int(size)
    }

    /// Replaces the first `referenceSize` bytes of `file` by the version `frame` encodes against
    /// them, `size` bytes (the layout checked it against the frame's header). The new version is
    /// decoded in full into `scratch` (at least `size` bytes; a chain's patches share one, so its
    /// memory is found once) before a byte of `file` changes, so a corrupt patch leaves it as it
    /// was; `scratch` holds the new version afterwards too.
    static func apply(frame: [UInt8], to file: WritableFile, referenceSize: Int, size: Int, scratch output: ScratchMapping, what: String) throws(BackupError) {
        let damaged = "the backup repository is damaged, restore from another commit with --at"
        var frameSize = 0
        frame.withUnsafeBytes { frameSize = ZSTD_findFrameCompressedSize($0.baseAddress, $0.count) }
        guard ZSTD_isError(frameSize) == 0, frameSize == frame.count else {
            throw BackupError("\(what) is not one whole zstd frame; \(damaged)")
        }
        guard output.bytes.count >= size else { throw BackupError("\(what) needs \(size) bytes to decode, more than were set aside; \(damaged)") }
        do {
            let reference = try MappedFile(descriptor: file.descriptor, size: referenceSize, path: file.path)
            guard let context = ZSTD_createDCtx() else { throw BackupError("zstd cannot allocate a decompression context; the machine is out of memory") }
            defer { ZSTD_freeDCtx(context) }
            try check(ZSTD_DCtx_setParameter(context, ZSTD_d_windowLogMax, Int32(maximumWindowLog)), "set the window limit")
            try check(ZSTD_DCtx_refPrefix(context, reference.bytes.baseAddress, reference.bytes.count), "reference the previous version")
            let written = frame.withUnsafeBytes { ZSTD_decompressDCtx(context, output.bytes.baseAddress, size, $0.baseAddress, $0.count) }
            guard ZSTD_isError(written) == 0 else {
                throw BackupError("\(what) cannot be decoded against the previous version (zstd: \(String(cString: ZSTD_getErrorName(written)))); \(damaged)")
            }
            guard written == size else { throw BackupError("\(what) decodes to \(written) bytes instead of \(size); \(damaged)") }
        }
        try file.write(UnsafeRawBufferPointer(rebasing: output.bytes[0..<size]), at: 0)
        try file.truncate(to: size)
    }

    private static func check(_ code: Int, _ what: String) throws(BackupError) {
        guard ZSTD_isError(code) != 0 else { return }
        throw BackupError("zstd cannot \(what): \(String(cString: ZSTD_getErrorName(code)))")
    }
}

/// A whole file mapped read-only: zstd reads the reference and the new version in place, so a
/// patch of a 1 GiB database needs page cache, not 1 GiB of the process's own memory.
final class MappedFile {
    let bytes: UnsafeRawBufferPointer

    convenience init(_ path: String) throws(BackupError) {
        let file = try ReadableFile(path)
        try self.init(descriptor: file.descriptor, size: try file.size(), path: path)
    }

    /// Maps the first `size` bytes of an open file (the mapping outlives the descriptor).
    init(descriptor: Int32, size: Int, path: String) throws(BackupError) {
        guard size > 0 else {
            bytes = UnsafeRawBufferPointer(start: nil, count: 0)
            return
        }
        // MAP_POPULATE: the page tables for the whole file in one call, not a fault per 64 KiB.
        guard let address = mmap(nil, size, PROT_READ, MAP_SHARED | MAP_POPULATE, descriptor, 0), address != MAP_FAILED else {
            throw BackupError("cannot map \(path) (\(size) bytes): \(String(cString: strerror(errno)))")
        }
        bytes = UnsafeRawBufferPointer(start: address, count: size)
    }

    deinit { if let base = bytes.baseAddress { munmap(UnsafeMutableRawPointer(mutating: base), bytes.count) } }
}

/// Writable memory of `size` bytes: anonymous memory, populated at once, when it is under a
/// quarter of the machine's RAM; otherwise an unnamed temporary file in a directory, which the
/// kernel can write out under memory pressure (anonymous memory again where the file system has no
/// O_TMPFILE). Page faults on a sparse file's mapping zero-filled every 4 KiB through the file
/// system: a third of a patch chain's restore. Nothing is left behind: the file has no name.
final class ScratchMapping {
    let bytes: UnsafeMutableRawBufferPointer
    private let descriptor: Int32

    init(size: Int, beside path: String) throws(BackupError) {
        guard size > 0 else {
            bytes = UnsafeMutableRawBufferPointer(start: nil, count: 0)
            descriptor = -1
            return
        }
        var fd: Int32 = -1
        if size > Self.anonymousLimit {
            let directory = (path as NSString).deletingLastPathComponent
            // O_TMPFILE is a macro Swift does not import: __O_TMPFILE (0o20000000 on Linux) | O_DIRECTORY.
            fd = open(directory.isEmpty ? "." : directory, 0o20000000 | O_DIRECTORY | O_RDWR | O_CLOEXEC, 0o600)
            if fd >= 0, ftruncate(fd, off_t(size)) != 0 {
                close(fd)
                fd = -1
            }
        }
        let address = fd >= 0
            ? mmap(nil, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0)
            : mmap(nil, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0)
        guard let address, address != MAP_FAILED else {
            if fd >= 0 { close(fd) }
            throw BackupError("cannot set aside \(size) bytes to decode a patch beside \(path): \(String(cString: strerror(errno)))")
        }
        bytes = UnsafeMutableRawBufferPointer(start: address, count: size)
        descriptor = fd
    }

    /// A quarter of the RAM: what a restore may take as memory of its own rather than as a file.
    static let anonymousLimit = max(0, sysconf(Int32(_SC_PHYS_PAGES))) * max(0, sysconf(Int32(_SC_PAGESIZE))) / 4

    deinit {
        if let base = bytes.baseAddress { munmap(base, bytes.count) }
        if descriptor >= 0 { close(descriptor) }
    }
}
