public import BackupRecords
import FoundationEssentials
import Glibc
import OpsConfig
public import ProcessControl

/// A scheduled backup (`backup.schedule`): the `opsctl-backup` companion takes it in a child
/// process, so opsd itself never loads libgit2 (see `Companion`). The child runs like a command
/// job: its log lines go to the journal under the job's name, and a timeout or opsd's shutdown
/// ends its whole process group, whose repository lock then falls with it.
///
/// Each attempt gets a run id of its own, passed as `--run-id`; the companion records its outcome
/// in the state database under that id, and the job reads back exactly that row. A backup taken
/// at the same time by hand (`opsctl backup`, the timer) has no say in this job's result, and a
/// companion killed before recording leaves the job failed, not reporting another run's success.
public struct BackupJob: JobWork {
    let configPath: String
    let history: BackupHistory
    let children: ChildProcesses
    let output: @Sendable (String) -> Int32?

    /// A backup of the configuration in `configPath`, read back from `history` (opsd's state
    /// database). The companion reads the file when the job fires: an edit that opsd has not
    /// reloaded yet is already in force for the backup.
    public init(configPath: String, history: BackupHistory, children: ChildProcesses, output: @escaping @Sendable (String) -> Int32?) {
        self.configPath = configPath
        self.history = history
        self.children = children
        self.output = output
    }

    /// The companion's command line for the run `runID`.
    static func command(configPath: String, runID: String) -> [String] {
        [Companion.path(of: Companion.backup), "backup", "--config", configPath, "--run-id", runID]
    }

    public func run(_ context: JobContext) async throws -> String {
        let runID = UUID().uuidString.lowercased()
        let command = CommandJob(
            spec: CommandSpec(command: Self.command(configPath: configPath, runID: runID)), children: children, output: output)
        let status = try await command.runToExit(context)
        let recorded: BackupRecordSummary.Run?
        do { recorded = try await history.run(id: runID) } catch {
            throw JobFailure("cannot read the backup's record (run \(runID)) from the state database: \(error)")
        }
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
