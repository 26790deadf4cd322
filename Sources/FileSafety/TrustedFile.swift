import Glibc

/// Files opsd reads secrets or settings from at load (`environment_file:`, `{file: PATH}`): only
/// root and opsd's user may decide what such a path leads to, and nobody else may change it.
///
/// A file in a directory another user can write could be swapped for a symbolic link to a file
/// that opsd may read and that user may not (a backup key, another service's token): its text
/// would reach a worker's environment, which that user may well read. And a file others can
/// write lets them set a worker's variables (`LD_PRELOAD`). So the file's directory must pass
/// ``TrustedDirectory/check(_:purpose:trusting:)`` (on the path as written and as resolved), a
/// symbolic link must be root's or ours, and the file itself must be writable by its owner alone.
/// Its owner may be anyone (an application's own `.env`): the owner can change only its text.
public enum TrustedFile {
    /// Refuses `path` unless only root and the effective user control where it leads, and only its
    /// owner can write it. A path that does not exist passes (the caller reports it as missing).
    public static func check(_ path: String, purpose: String) throws(UntrustedPathError) {
        var link = stat()
        guard lstat(path, &link) == 0 else { return }
        try TrustedDirectory.check(parent(of: path), purpose: "the directory of \(purpose)")
        if link.st_mode & S_IFMT == S_IFLNK {
            let me = geteuid()
            guard link.st_uid == 0 || link.st_uid == me else {
                throw UntrustedPathError(
                    path: path, description: "\(purpose) \(path) is a symbolic link owned by uid \(link.st_uid), who could point it elsewhere; use the path it leads to")
            }
            guard let resolved = TrustedDirectory.resolve(path) else { return }
            try TrustedDirectory.check(parent(of: resolved), purpose: "the directory of \(purpose) (behind the link \(path))")
        }
        var info = stat()
        guard stat(path, &info) == 0 else { return }
        guard info.st_mode & S_IFMT == S_IFREG else {
            throw UntrustedPathError(path: path, description: "\(purpose) \(path) is not a regular file; name a file")
        }
        guard info.st_mode & (S_IWGRP | S_IWOTH) == 0 else {
            let who = info.st_mode & S_IWOTH != 0 ? "every user" : "group \(info.st_gid)"
            let bits = info.st_mode & S_IWOTH != 0 ? "go-w" : "g-w"
            throw UntrustedPathError(path: path, description: "\(purpose) \(path) is writable by \(who), who could change what opsd reads from it; run chmod \(bits) \(path)")
        }
    }

    /// Refuses a private key a person passes on the command line (`opsctl restore --identity`):
    /// everything ``check(_:purpose:)`` refuses, and on top a file owned by anyone but root and
    /// the effective user (who could swap in a key of their own) or with any permission for its
    /// group or others (OpenSSH's rule for private keys: the key opens every encrypted backup, and
    /// unlike a token file opsd's group never needs to read it). A missing path passes, as there.
    public static func checkPrivateKey(_ path: String, purpose: String) throws(UntrustedPathError) {
        try check(path, purpose: purpose)
        var info = stat()
        guard stat(path, &info) == 0 else { return }
        guard info.st_uid == 0 || info.st_uid == geteuid() else {
            throw UntrustedPathError(path: path, description: "\(purpose) \(path) is owned by uid \(info.st_uid), who could replace the key in it; run chown \(geteuid()) \(path)")
        }
        let mode = info.st_mode & 0o7777
        guard mode & 0o077 == 0 else {
            let octal = "0" + String(mode, radix: 8)
            throw UntrustedPathError(path: path, description: "\(purpose) \(path) has mode \(octal), so other users can read or use the key in it; run chmod 600 \(path)")
        }
    }

    private static func parent(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        return slash == path.startIndex ? "/" : String(path[..<slash])
    }
}
