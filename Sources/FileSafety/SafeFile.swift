public import Glibc

/// Opens files opsd keeps in a ``TrustedDirectory`` without being led elsewhere.
///
/// `open(O_CREAT)` on a name someone else prepared follows a planted symlink, writes through a
/// planted hard link to another file, or blocks on a planted FIFO. `SafeFile.open` refuses all
/// three: the last component is not followed (`O_NOFOLLOW`), the opened file must be a regular file
/// owned by the effective user with exactly one link, and it is opened non-blocking so a FIFO
/// cannot stall the caller before it is refused. `O_TRUNC` is applied only after those checks, so
/// someone else's file is never truncated. The directories above the file are the caller's to
/// trust: check them with ``TrustedDirectory/check(_:purpose:)`` first.
public enum SafeFile {
    /// Opens `path` with `flags` (`O_CREAT` and `O_TRUNC` allowed; `O_NOFOLLOW` and `O_CLOEXEC`
    /// are always added) and, when creating, `mode` (the umask still applies); returns the
    /// descriptor, which the caller closes.
    ///
    /// - Parameter purpose: what the file is, to open the error's sentence, e.g. "the socket's lock file".
    /// - Parameter owner: one more user whose file is accepted, as with
    ///   ``TrustedDirectory/check(_:purpose:trusting:)``.
    public static func open(_ path: String, flags: Int32, mode: mode_t = 0o600, purpose: String = "the file", trusting owner: uid_t? = nil) throws(UntrustedPathError) -> Int32 {
        let truncate = flags & O_TRUNC != 0
        let blocking = flags & O_NONBLOCK == 0
        let descriptor = Glibc.open(path, (flags & ~O_TRUNC) | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK, mode)
        guard descriptor >= 0 else {
            let code = errno
            if code == ELOOP {
                throw UntrustedPathError(path: path, description: "\(purpose) \(path) is a symbolic link, which opsd does not follow there; remove it")
            }
            throw UntrustedPathError(path: path, description: "cannot open \(purpose) \(path): \(TrustedDirectory.reason(code)); check that opsd's user may write to its directory")
        }
        var info = stat()
        let problem: String?
        if fstat(descriptor, &info) != 0 {
            problem = "cannot be examined: \(TrustedDirectory.reason(errno))"
        } else if info.st_mode & S_IFMT != S_IFREG {
            problem = "is not a regular file"
        } else if info.st_uid != geteuid(), info.st_uid != owner {
            problem = "is owned by uid \(info.st_uid), not by opsd's user (uid \(geteuid()))"
        } else if info.st_nlink != 1 {
            problem = "has \(info.st_nlink) hard links, so writing it would change another file too"
        } else {
            problem = nil
        }
        if let problem {
            close(descriptor)
            throw UntrustedPathError(path: path, description: "\(purpose) \(path) \(problem); remove it (opsd creates it anew)")
        }
        if blocking {
            _ = fcntl(descriptor, F_SETFL, fcntl(descriptor, F_GETFL) & ~O_NONBLOCK)
        }
        if truncate, ftruncate(descriptor, 0) != 0 {
            let code = errno
            close(descriptor)
            throw UntrustedPathError(path: path, description: "cannot truncate \(purpose) \(path): \(TrustedDirectory.reason(code))")
        }
        return descriptor
    }
}
