public import Glibc

/// Why a path was refused; reads as one sentence that names the path, who else controls it, and
/// what to do about it.
public struct UntrustedPathError: Error, CustomStringConvertible, Equatable, Sendable {
    /// The path that was refused (the directory or ancestor at fault, or the file).
    public let path: String
    /// The sentence shown to the operator.
    public let description: String

    /// An error whose sentence is `description`.
    public init(path: String, description: String) {
        self.path = path
        self.description = description
    }
}

/// Directories opsd may keep files in: only root and opsd's effective user can change them.
///
/// A directory another user can write lets that user plant a symlink where opsd creates a file
/// (a root opsd then writes wherever the link points), move opsd's socket away and bind an
/// impostor, or plant files that stop opsd from starting. So opsd refuses such a directory rather
/// than trying to work safely inside it.
///
/// The rule is OpenSSH's `safe_path` (used for `authorized_keys`): the directory and each of its
/// ancestors must be owned by root or by us and writable by nobody else; an ancestor may be
/// world-writable when it is sticky (`/tmp`), because then others can add entries but cannot
/// rename or remove ours. Symlinks on the way are checked on both sides: each directory the path
/// names (its link's entry lives in the parent checked before it) and each directory of the
/// resolved path. Nothing here follows a path twice after checking it, but because only root and
/// us can change any directory on the way, the answer stays true until one of us changes it.
public enum TrustedDirectory {
    /// Refuses `path` unless it is a directory that only root and the effective user can change,
    /// through every directory on its way from `/`.
    ///
    /// - Parameters:
    ///   - path: an absolute or relative directory path (relative: from the working directory).
    ///   - purpose: what the directory is for, to open the sentence, e.g. "the socket directory".
    ///   - owner: one more user trusted like root and us: opsd's own user, when root runs
    ///     `opsctl backup` or `restore` on the repository opsd keeps (see ``serviceOwner(of:)``).
    public static func check(_ path: String, purpose: String, trusting owner: uid_t? = nil) throws(UntrustedPathError) {
        let absolute = Self.absolute(path)
        var final = stat()
        guard stat(absolute, &final) == 0 else {
            throw UntrustedPathError(path: path, description: "\(purpose) \(path) cannot be examined: \(Self.reason(errno)); create it (owned by root or uid \(geteuid()), mode 0750)")
        }
        guard final.st_mode & S_IFMT == S_IFDIR else {
            throw UntrustedPathError(path: path, description: "\(purpose) \(path) is not a directory; choose a directory")
        }
        try Self.checkChain(absolute, purpose: purpose, final: absolute, trusting: owner)
        // The chain above followed any symlinks it met; the resolved path names the directories
        // actually traversed behind them.
        if let resolved = Self.resolve(absolute), resolved != absolute {
            try Self.checkChain(resolved, purpose: purpose, final: resolved, trusting: owner)
        }
    }

    /// The user that owns `directory` (opsd's state directory), when that is a user other than
    /// root whose directory it really is: every ancestor passes the rule for root and us alone,
    /// and nobody else may write the directory. Root running `opsctl backup` or `restore` then
    /// trusts that user (opsd's, `ops` under the unit) in the repository opsd keeps, as the
    /// threat model trusts opsd's own user. Nil otherwise.
    public static func serviceOwner(of directory: String) -> uid_t? {
        var info = stat()
        guard lstat(Self.absolute(directory), &info) == 0, info.st_mode & S_IFMT == S_IFDIR, info.st_uid != 0,
              info.st_mode & (S_IWGRP | S_IWOTH) == 0 else { return nil }
        let absolute = Self.absolute(directory)
        guard let slash = absolute.lastIndex(of: "/") else { return nil }
        let parent = slash == absolute.startIndex ? "/" : String(absolute[..<slash])
        do throws(UntrustedPathError) {
            try check(parent, purpose: "the state directory's parent")
        } catch {
            return nil
        }
        return info.st_uid
    }

    /// Creates `path` and its missing ancestors with `mode` (like `mkdir -p`, ancestors too),
    /// then ``check(_:purpose:)``s it.
    public static func prepare(_ path: String, mode: mode_t, purpose: String, trusting owner: uid_t? = nil) throws(UntrustedPathError) {
        var prefix = path.hasPrefix("/") ? "" : "."
        for component in path.split(separator: "/") {
            prefix += "/" + component
            if mkdir(prefix, mode) != 0, errno != EEXIST {
                throw UntrustedPathError(path: prefix, description: "cannot create \(purpose) \(prefix): \(Self.reason(errno)); check that opsd's user may create it, or create it beforehand")
            }
        }
        try check(path, purpose: purpose, trusting: owner)
    }

    /// Checks every prefix of `absolute`, from `/` to the whole path (which must not be writable by
    /// others even when sticky: its entries are what opsd keeps).
    private static func checkChain(_ absolute: String, purpose: String, final: String, trusting owner: uid_t?) throws(UntrustedPathError) {
        var prefixes = ["/"]
        var prefix = ""
        for component in absolute.split(separator: "/") {
            prefix += "/" + component
            prefixes.append(prefix)
        }
        let me = geteuid()
        func trusted(_ uid: uid_t) -> Bool { uid == 0 || uid == me || uid == owner }
        for directory in prefixes {
            // A symbolic link on the way is an entry of the directory before it; in a sticky
            // directory (/tmp) anyone may have made it, and only its maker can change where it
            // points, so it must be one of ours.
            var link = stat()
            if lstat(directory, &link) == 0, link.st_mode & S_IFMT == S_IFLNK, !trusted(link.st_uid) {
                throw UntrustedPathError(
                    path: directory,
                    description: "\(directory), on the way to \(purpose) \(final), is a symbolic link owned by uid \(link.st_uid), who could point it elsewhere; "
                        + "use the path it leads to, or a link owned by root or uid \(me)")
            }
            var info = stat()
            guard stat(directory, &info) == 0 else {
                throw UntrustedPathError(path: directory, description: "\(purpose) \(final) cannot be examined at \(directory): \(Self.reason(errno))")
            }
            let isFinal = directory == final
            let sticky = info.st_mode & S_ISVTX != 0
            let what = isFinal ? "\(purpose) \(final)" : "\(directory), an ancestor of \(purpose) \(final),"
            if !trusted(info.st_uid) {
                throw UntrustedPathError(
                    path: directory,
                    description: "\(what) is owned by uid \(info.st_uid), who could replace what opsd keeps there; "
                        + "give it to root or uid \(me) (chown) or choose another directory")
            }
            // A sticky ancestor (/tmp) lets others add entries but not rename or remove ours.
            guard info.st_mode & (S_IWGRP | S_IWOTH) == 0 || (sticky && !isFinal) else {
                let who = info.st_mode & S_IWOTH != 0 ? "every user" : "group \(info.st_gid)"
                let bits = info.st_mode & S_IWOTH != 0 ? "go-w" : "g-w"
                throw UntrustedPathError(
                    path: directory,
                    description: "\(what) is writable by \(who), who could replace what opsd keeps there; "
                        + "run chmod \(bits) \(directory) or choose another directory")
            }
        }
    }

    private static func absolute(_ path: String) -> String {
        if path.hasPrefix("/") { return path }
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        guard getcwd(&buffer, buffer.count) != nil else { return "/" + path }
        let cwd = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        return cwd == "/" ? "/" + path : cwd + "/" + path
    }

    /// `path` with every symbolic link and `.`/`..` resolved (realpath(3)); nil when a component
    /// does not exist.
    public static func resolve(_ path: String) -> String? {
        guard let resolved = realpath(path, nil) else { return nil }
        defer { free(resolved) }
        return String(cString: resolved)
    }

    static func reason(_ code: Int32) -> String {
        String(cString: strerror(code))
    }
}
