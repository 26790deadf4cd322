import StateStore

/// The versions of the C libraries backups are built on, as linked at run time.
///
/// Each database's manifest records the SQLite version that wrote it: the backup format depends
/// on SQLite's page layout, so a restore on another machine can tell what produced the pages.
public enum BackupLibraries {
    /// SQLite's version, e.g. `3.40.1`.
    public static var sqlite: String { Database.libraryVersion }
}
