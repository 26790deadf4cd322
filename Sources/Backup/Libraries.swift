import CGit2
import StateStore

/// The versions of the C libraries backups are built on, as linked at run time.
///
/// opsd logs them at start-up: the backup format depends on SQLite's page layout and libgit2's
/// behaviour, so a bug report needs the versions actually loaded, not the ones built against.
public enum BackupLibraries {
    /// libgit2's version, e.g. `1.5.1`.
    public static var libgit2: String {
        var major: Int32 = 0, minor: Int32 = 0, revision: Int32 = 0
        git_libgit2_version(&major, &minor, &revision)
        return "\(major).\(minor).\(revision)"
    }

    /// SQLite's version, e.g. `3.40.1`.
    public static var sqlite: String { Database.libraryVersion }
}
