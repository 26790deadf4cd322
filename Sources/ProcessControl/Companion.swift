import Glibc

/// The companion programs installed beside opsd and opsctl. Work that needs heavy libraries runs
/// in one of them, in a process of its own, so that the daemon and the everyday CLI never load
/// those libraries: `opsctl-backup` carries libgit2, libssh2 and their TLS libraries, which cost
/// opsd about 3 MiB of memory for as long as it ran (docs/performance-notes.md).
public enum Companion {
    /// Backups and restores: `opsctl backup`, `opsctl restore` and opsd's scheduled backups.
    public static let backup = "opsctl-backup"

    /// The path of the companion `name` in the directory of the running executable (the way
    /// `make install` lays them out, and the build directory too).
    public static func path(of name: String) -> String {
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        let length = readlink("/proc/self/exe", &buffer, buffer.count - 1)
        guard length > 0 else { return name }
        let executable = String(decoding: buffer[..<length].map { UInt8(bitPattern: $0) }, as: UTF8.self)
        guard let slash = executable.lastIndex(of: "/") else { return name }
        return executable[..<slash] + "/" + name
    }
}
