import Glibc

extension BackupSpec {
    /// SQLite's file header: every SQLite database starts with these 16 bytes.
    static let sqliteHeader: [UInt8] = Array("SQLite format 3".utf8) + [0]

    /// One warning per path under `backup.databases` that exists but is not an SQLite database
    /// (a DuckDB file, a dump): the backup would fail that part. A missing or empty file is not
    /// warned about: the application may create it later, and SQLite takes an empty file as an
    /// empty database.
    public func nonSQLiteDatabaseWarnings() -> [String] {
        databases.enumerated().compactMap { index, path in
            guard Self.isNotSQLite(path) else { return nil }
            let line = databaseLines[path].map { " (line \($0))" } ?? ""
            return "backup.databases[\(index)]: \(path) is not an SQLite database (no \"SQLite format 3\" header), so backups would fail this part; export it with a backup.before command into a directory under backup.files instead\(line)"
        }
    }

    /// True when `path` is a regular file with some bytes that do not start with SQLite's
    /// header; false when it is SQLite, empty, missing or unreadable (other errors say why).
    public static func isNotSQLite(_ path: String) -> Bool {
        guard let header = header(of: path), !header.isEmpty else { return false }
        return header != sqliteHeader
    }

    /// The first 16 bytes of `path` (fewer for a shorter file); nil when it cannot be read or is not a regular file.
    private static func header(of path: String) -> [UInt8]? {
        var info = stat()
        guard stat(path, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG else { return nil }
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { return nil }
        defer { close(descriptor) }
        var bytes = [UInt8](repeating: 0, count: sqliteHeader.count)
        let count = bytes.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, $0.count) }
        return count < 0 ? nil : Array(bytes.prefix(count))
    }
}
