import Backup
import BackupCLI
import Foundation

/// opsctl-backup as the tests need it: the same commands, stopped at a step so a test can SIGKILL
/// it there. With `OPSD_BACKUP_PAUSE_AT=<step>` (a `BackupStep`: after-snapshot, before-reference,
/// after-reference, before-swap), the backup or restore writes the step's name to the file named
/// by `OPSD_BACKUP_PAUSE_FILE` on reaching it, then waits for a signal forever.
///
/// Built with the tests and never installed: these variables mean nothing to opsd or opsctl-backup.
@main
enum Main {
    static func main() async {
        let environment = ProcessInfo.processInfo.environment
        guard let name = environment["OPSD_BACKUP_PAUSE_AT"] else {
            await OpsctlBackup.main(observing: nil)
            return
        }
        guard let pauseAt = BackupStep(rawValue: name) else {
            let steps = BackupStep.allCases.map(\.rawValue).joined(separator: ", ")
            FileHandle.standardError.write(Data("opsctl-backup-testkit: OPSD_BACKUP_PAUSE_AT=\(name) is no step; use one of \(steps)\n".utf8))
            exit(64)
        }
        let pauseFile = environment["OPSD_BACKUP_PAUSE_FILE"]
        await OpsctlBackup.main { step in
            guard step == pauseAt else { return }
            if let pauseFile { try? Data(step.rawValue.utf8).write(to: URL(fileURLWithPath: pauseFile), options: .atomic) }
            while true { pause() }
        }
    }
}
