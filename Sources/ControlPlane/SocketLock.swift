import FileSafety
import FoundationEssentials
#if canImport(Glibc)
import Glibc
#endif

/// An exclusive lock next to the control socket (`opsd.sock.lock`), held for opsd's lifetime.
///
/// The socket file alone cannot tell a crashed opsd's leftover from a live one without racing a
/// second starting instance; `flock` can: the kernel drops it when its holder dies, however it dies.
/// Whoever holds the lock owns the socket path and may remove a stale socket file.
///
/// The file is opened with ``SafeFile``: a symlink or hard link planted at its name is refused,
/// never written through, and a file that is not opsd's is neither truncated nor used.
final class SocketLock: Sendable {
    let path: String
    private let descriptor: Int32

    private init(path: String, descriptor: Int32) {
        self.path = path
        self.descriptor = descriptor
    }

    /// Takes the lock for `socketPath`, or says which process holds it.
    static func acquire(for socketPath: String) throws(ControlServerError) -> SocketLock {
        let path = socketPath + ".lock"
        let descriptor: Int32
        do {
            descriptor = try SafeFile.open(path, flags: O_RDWR | O_CREAT, mode: 0o600, purpose: "the control socket's lock file")
        } catch {
            throw .untrusted(error)
        }
        guard flock(descriptor, LOCK_EX | LOCK_NB) == 0 else {
            let holder = readPID(descriptor)
            close(descriptor)
            throw .alreadyRunning(socket: socketPath, pid: holder)
        }
        let text = Array("\(getpid())\n".utf8)
        _ = ftruncate(descriptor, 0)
        _ = pwrite(descriptor, text, text.count, 0)
        return SocketLock(path: path, descriptor: descriptor)
    }

    private static func readPID(_ descriptor: Int32) -> Int32? {
        var buffer = [UInt8](repeating: 0, count: 32)
        let count = pread(descriptor, &buffer, buffer.count, 0)
        guard count > 0 else { return nil }
        return Int32(String(decoding: buffer[..<count], as: UTF8.self).filter { !$0.isWhitespace })
    }

    deinit {
        close(descriptor)
    }
}
