import BackupCLI

/// The `opsctl-backup` companion: the backup and restore commands, with nothing observing their
/// steps (the test kit's companion is the one that stops at a step).
@main
enum Main {
    static func main() async {
        await OpsctlBackup.main(observing: nil)
    }
}
