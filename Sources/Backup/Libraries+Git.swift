import CGit2

extension BackupLibraries {
    /// libgit2's version as loaded at run time (`git_libgit2_version`), e.g. `1.5.1`: what
    /// `opsctl-backup --version` reports, and through it opsd's and opsctl's.
    public static var libgit2: String {
        var major: Int32 = 0, minor: Int32 = 0, revision: Int32 = 0
        guard git_libgit2_version(&major, &minor, &revision) == 0 else { return "unknown" }
        return "\(major).\(minor).\(revision)"
    }
}
