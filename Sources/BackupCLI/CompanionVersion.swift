import Backup
import BuildInfo

/// `opsctl-backup --version`: the companion is the one program that loads libgit2, so opsd and
/// opsctl read libgit2's version from this report.
public enum CompanionVersion {
    /// The report's lines, libgit2's version read in this process.
    public static func report() async -> String {
        await VersionReport(program: "opsctl-backup", sqlite: BackupLibraries.sqlite, libgit2: BackupLibraries.libgit2).text
    }
}
