import BackupCLI

/// The `opsctl-backup` companion: the backup and restore commands, with nothing observing their
/// steps (the test kit's companion is the one that stops at a step).
@main
enum Main {
    static func main() async {
        // Before ArgumentParser, whose root here has no version: opsd and opsctl ask for libgit2's.
        if Array(CommandLine.arguments.dropFirst()) == ["--version"] { return print(await CompanionVersion.report()) }
        await OpsctlBackup.main(observing: nil)
    }
}
