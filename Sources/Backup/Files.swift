import Foundation

/// A file opened for reading with positioned reads (pread), closed on deinit.
final class ReadableFile {
    let path: String
    let descriptor: Int32

    /// Opens `path`; with `followLinks` false, a symbolic link there is refused (ELOOP).
    init(_ path: String, followLinks: Bool = true) throws(BackupError) {
        self.path = path
        descriptor = open(path, O_RDONLY | O_CLOEXEC | (followLinks ? 0 : O_NOFOLLOW))
        guard descriptor >= 0 else { throw BackupError("cannot open \(path): \(String(cString: strerror(errno)))") }
    }

    deinit { close(descriptor) }

    /// The file's size in bytes.
    func size() throws(BackupError) -> Int {
        var info = stat()
        guard fstat(descriptor, &info) == 0 else { throw BackupError("cannot stat \(path): \(String(cString: strerror(errno)))") }
        return Int(info.st_size)
    }

    /// Reads up to `buffer.count` bytes at `offset` (or at the current position when nil);
    /// fewer only at the end of the file.
    func read(into buffer: inout [UInt8], at offset: Int?) throws(BackupError) -> Int {
        var total = 0
        let wanted = buffer.count
        while total < wanted {
            let n = buffer.withUnsafeMutableBytes { raw -> Int in
                guard let base = raw.baseAddress else { return 0 }
                let start = base + total
                if let offset { return pread(descriptor, start, wanted - total, off_t(offset + total)) }
                return Foundation.read(descriptor, start, wanted - total)
            }
            if n < 0 {
                if errno == EINTR { continue }
                throw BackupError("cannot read \(path): \(String(cString: strerror(errno)))")
            }
            if n == 0 { break }
            total += n
        }
        return total
    }
}

/// A file being written; `finish()` fsyncs it, so a rename afterwards publishes complete bytes.
final class WritableFile: Sendable {
    let path: String
    let descriptor: Int32

    /// Creates (or truncates) `path` with mode 0600: backups hold application data.
    init(creating path: String) throws(BackupError) {
        self.path = path
        descriptor = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else { throw BackupError("cannot create \(path): \(String(cString: strerror(errno)))") }
    }

    /// Creates `path`, which must not exist yet (O_EXCL; a symbolic link planted there is refused
    /// too), with `mode`: for files beside a live database, in a directory others may share.
    init(creatingNew path: String, mode: mode_t = 0o600) throws(BackupError) {
        self.path = path
        descriptor = open(path, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode)
        guard descriptor >= 0 else { throw BackupError("cannot create \(path): \(String(cString: strerror(errno)))") }
    }

    /// Gives the file `owner`, `group` and permission bits `mode`, through the descriptor (never
    /// through a path another process could have replaced).
    func setOwnership(owner: uid_t, group: gid_t, mode: mode_t) throws(BackupError) {
        var info = stat()
        guard fstat(descriptor, &info) == 0 else { throw BackupError("cannot stat \(path): \(String(cString: strerror(errno)))") }
        // Only a real change of owner needs the privilege; keeping one's own is always allowed.
        if info.st_uid != owner || info.st_gid != group, fchown(descriptor, owner, group) != 0 {
            throw BackupError("cannot give \(path) the owner \(owner):\(group) of the file it replaces: \(String(cString: strerror(errno))); run the restore as root or as that owner")
        }
        guard fchmod(descriptor, mode & 0o7777) == 0 else {
            throw BackupError("cannot set the mode of \(path): \(String(cString: strerror(errno)))")
        }
    }

    /// Opens an existing file for in-place writes.
    init(existing path: String) throws(BackupError) {
        self.path = path
        descriptor = open(path, O_RDWR | O_CLOEXEC)
        guard descriptor >= 0 else { throw BackupError("cannot open \(path): \(String(cString: strerror(errno)))") }
    }

    deinit { close(descriptor) }

    func write(_ bytes: UnsafeRawBufferPointer, at offset: Int) throws(BackupError) {
        guard let base = bytes.baseAddress else { return }
        var done = 0
        while done < bytes.count {
            let n = pwrite(descriptor, base + done, bytes.count - done, off_t(offset + done))
            if n < 0 {
                if errno == EINTR { continue }
                throw BackupError("cannot write \(path): \(String(cString: strerror(errno)))")
            }
            done += n
        }
    }

    func truncate(to size: Int) throws(BackupError) {
        guard ftruncate(descriptor, off_t(size)) == 0 else { throw BackupError("cannot truncate \(path): \(String(cString: strerror(errno)))") }
    }

    func finish() throws(BackupError) {
        guard fsync(descriptor) == 0 else { throw BackupError("cannot fsync \(path): \(String(cString: strerror(errno)))") }
    }
}

enum FileSystem {
    static func exists(_ path: String) -> Bool { access(path, F_OK) == 0 }

    static func isDirectory(_ path: String) -> Bool {
        var info = stat()
        return stat(path, &info) == 0 && (info.st_mode & S_IFMT) == S_IFDIR
    }

    /// fsyncs a directory, so that a rename or unlink inside it survives a power loss.
    static func syncDirectory(of path: String) {
        let directory = (path as NSString).deletingLastPathComponent
        let fd = open(directory.isEmpty ? "." : directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if fd >= 0 { fsync(fd); close(fd) }
    }

    static func rename(_ from: String, _ to: String) throws(BackupError) {
        guard Foundation.rename(from, to) == 0 else {
            throw BackupError("cannot rename \(from) to \(to): \(String(cString: strerror(errno)))")
        }
    }

    static func makeDirectory(_ path: String) throws(BackupError) {
        do {
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        } catch {
            throw BackupError("cannot create directory \(path): \(error.localizedDescription)")
        }
    }

    static func readAll(_ path: String, followLinks: Bool = true) throws(BackupError) -> [UInt8] {
        let file = try ReadableFile(path, followLinks: followLinks)
        var buffer = [UInt8](repeating: 0, count: try file.size())
        let count = try file.read(into: &buffer, at: 0)
        return Array(buffer.prefix(count))
    }

    static func writeAtomically(_ bytes: [UInt8], to path: String) throws(BackupError) {
        let temporary = path + ".tmp"
        let file = try WritableFile(creating: temporary)
        try bytes.withBytes { (raw) throws(BackupError) in try file.write(raw, at: 0) }
        try file.finish()
        try rename(temporary, path)
        syncDirectory(of: path)
    }
}

extension Array where Element == UInt8 {
    /// `withUnsafeBytes` for a body that throws `BackupError` (the standard one rethrows untyped).
    func withBytes<R>(_ body: (UnsafeRawBufferPointer) throws(BackupError) -> R) throws(BackupError) -> R {
        try withUnsafeBytes { raw in Result { () throws(BackupError) in try body(raw) } }.get()
    }

    /// `withUnsafeMutableBytes` for a body that throws `BackupError`.
    mutating func withMutableBytes<R>(_ body: (UnsafeMutableRawBufferPointer) throws(BackupError) -> R) throws(BackupError) -> R {
        try withUnsafeMutableBytes { raw in Result { () throws(BackupError) in try body(raw) } }.get()
    }
}
