import BackupRecords
import DaemonRuntime
import FoundationEssentials
import Glibc
import OpsConfig
public import ProcessControl

/// A scheduled backup (`backup.schedule`): the `opsctl-backup` companion takes it in a child
/// process, so opsd itself never loads libgit2 (see `Companion`). The child runs like a command
/// job: its log lines go to the journal under the job's name, and a timeout or opsd's shutdown
/// ends its whole process group, whose repository lock then falls with it.
///
/// The companion records every run in the state database; the run's summary is read back from
/// there, so `opsctl jobs` and `opsctl status` tell the same story.
public struct BackupJob: JobWork {
    let command: CommandJob
    let stateDirectory: String

    /// A backup of the configuration in `configPath`, recorded in `stateDirectory`'s database.
    /// The companion reads the file when the job fires: an edit that opsd has not reloaded yet
    /// is already in force for the backup.
    public init(configPath: String, stateDirectory: String, children: ChildProcesses, output: @escaping @Sendable (String) -> Int32?) {
        let companion = Companion.path(of: Companion.backup)
        command = CommandJob(spec: CommandSpec(command: [companion, "backup", "--config", configPath]), children: children, output: output)
        self.stateDirectory = stateDirectory
    }

    public func run(_ context: JobContext) async throws -> String {
        let started = Date()
        let status = try await command.runToExit(context)
        // Opening the state database may wait on its busy timeout: not on an event loop.
        let directory = stateDirectory
        let last = try? await offload { try BackupHistory(stateDirectory: directory).summary().lastRun }
        let recorded = last.flatMap { $0 }.flatMap { $0.finished >= started ? $0 : nil }
        guard let run = recorded else {
            throw JobFailure("\(Companion.backup) ended with \(status) before recording a backup; its messages are in the log under the job's name (journalctl -t \(context.job))")
        }
        guard run.succeeded else { throw JobFailure(run.error ?? "the backup failed (\(Companion.backup) ended with \(status))") }
        return Self.summary(of: run)
    }

    /// One line for the run record: the commit, and whether the remote has it.
    static func summary(of run: BackupRecordSummary.Run) -> String {
        let what = run.commit.map { "commit \($0.prefix(12))" } ?? "no change since the previous backup"
        if !run.remoteConfigured { return what }
        if run.remoteInSync { return what + ", remote up to date" }
        return what + ", push failed (\(run.unpushedCommits) commit(s) local only): \(run.error ?? "unknown error")"
    }
}
