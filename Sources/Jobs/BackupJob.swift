public import BackupRecords
public import Events
import FoundationEssentials
import Glibc
import OpsConfig
public import ProcessControl
import Synchronization

/// A scheduled backup (`backup.schedule`): the `opsctl-backup` companion takes it in a child
/// process, so opsd itself never loads libgit2 (see `Companion`). The child runs like a command
/// job: its log lines go to the journal under the job's name, and a timeout or opsd's shutdown
/// ends its whole process group, whose repository lock then falls with it.
///
/// Each attempt gets a run id of its own, passed as `--run-id`; the companion records its outcome
/// in the state database under that id, and the job reads back exactly that row. A backup taken
/// at the same time by hand (`opsctl backup`, the timer) has no say in this job's result, and a
/// companion killed before recording leaves the job failed, not reporting another run's success.
///
/// Its runs are reported as backups, not as jobs: `backup_failed` after the retries,
/// `backup_local` when the backup was committed but its push failed, and `backup_recovered` for
/// the first backup that reached its remote (or was stored, without a remote) after either.
public struct BackupJob: JobWork {
    let configPath: String
    let history: BackupHistory
    let children: any ProcessSpawner
    let output: @Sendable (String) -> Int32?
    /// `backup.remote.token_env`: opsd withholds that variable from its children, so the
    /// companion, which pushes with it, is given it explicitly.
    let tokenVariable: String?
    /// The record of the last attempt that succeeded, for its run's events (a job's runs never overlap).
    private let lastSuccess = LastBackup()

    /// A backup of the configuration in `configPath`, read back from `history` (opsd's state
    /// database). The companion reads the file when the job fires: an edit that opsd has not
    /// reloaded yet is already in force for the backup.
    public init(
        configPath: String, history: BackupHistory, children: any ProcessSpawner, tokenVariable: String? = nil, output: @escaping @Sendable (String) -> Int32?
    ) {
        self.configPath = configPath
        self.tokenVariable = tokenVariable
        self.history = history
        self.children = children
        self.output = output
    }

    /// The token variable from opsd's own environment, for the companion alone (none when unset:
    /// the companion then names the missing variable).
    static func token(_ name: String?, from environment: [String: String] = ProcessInfo.processInfo.environment) -> [String: String] {
        guard let name, let value = environment[name] else { return [:] }
        return [name: value]
    }

    /// The companion's command line for the run `runID`.
    static func command(configPath: String, runID: String) -> [String] {
        [Companion.path(of: Companion.backup), "backup", "--config", configPath, "--run-id", runID]
    }

    public func run(_ context: JobContext) async throws -> String {
        let runID = UUID().uuidString.lowercased()
        let command = CommandJob(
            spec: CommandSpec(command: Self.command(configPath: configPath, runID: runID), environment: Self.token(tokenVariable)), children: children, output: output)
        let status = try await command.runToExit(context)
        let recorded: BackupRecordSummary.Run?
        do { recorded = try await history.run(id: runID) } catch {
            throw JobFailure("cannot read the backup's record (run \(runID)) from the state database: \(error)")
        }
        guard let run = recorded else {
            throw JobFailure("\(Companion.backup) ended with \(status) before recording a backup; its messages are in the log under the job's name (journalctl -t \(context.job))")
        }
        guard run.succeeded else { throw JobFailure(run.error ?? "the backup failed (\(Companion.backup) ended with \(status))") }
        // A partial backup is a failed run whose reason names the failed parts (backup_failed);
        // the parts that worked are committed all the same.
        if let failed = run.failedParts { throw JobFailure("partial backup (\(Self.summary(of: run))): \(failed)") }
        lastSuccess.set(run)
        return Self.summary(of: run)
    }

    public func events(for outcome: JobOutcome) -> [Event] {
        let subject = Subject(.backup, outcome.job)
        switch outcome.result {
        case .failed:
            let tries = outcome.attempts == 1 ? "1 attempt" : "\(outcome.attempts) attempts"
            return [Event(.backupFailed, subject: subject, message: "backup \(outcome.job) failed after \(tries): \(outcome.reason)", fields: outcome.fields)]
        case .ok:
            if Self.isLocal(outcome.message) {
                var fields = ["attempts": "\(outcome.attempts)"]
                if let run = lastSuccess.take() { fields["unpushed_commits"] = "\(run.unpushedCommits)" }
                return [Event(
                    .backupLocal, subject: subject,
                    message: "backup \(outcome.job) was stored but its push failed, so it exists on this host only: \(Self.pushError(outcome.message))",
                    fields: fields)]
            }
            _ = lastSuccess.take()
            guard let previous = outcome.previous, previous.result == .failed || (previous.result == .ok && Self.isLocal(previous.message ?? "")) else { return [] }
            return [Event(.backupRecovered, subject: subject, message: "backup \(outcome.job) reached its remote again", fields: ["attempts": "\(outcome.attempts)"])]
        default:
            return []
        }
    }

    /// One line for the run record: the commit, and whether the remote has it.
    static func summary(of run: BackupRecordSummary.Run) -> String {
        let what = run.commit.map { "commit \($0.prefix(12))" } ?? "no change since the previous backup"
        if !run.remoteConfigured { return what }
        if run.remoteInSync { return what + ", remote up to date" }
        return what + "\(localMark)\(run.unpushedCommits) commit(s) local only): \(run.error ?? "unknown error")"
    }

    /// What the summary of a backup that stayed local says, and nothing else does: the run store
    /// keeps summaries, so a restarted opsd still knows the last backup stayed local.
    private static let localMark = ", push failed ("

    static func isLocal(_ summary: String) -> Bool { summary.firstRange(of: localMark) != nil }

    /// The push's error in the summary of a backup that stayed local.
    private static func pushError(_ summary: String) -> String {
        guard let mark = summary.firstRange(of: localMark), let colon = summary[mark.upperBound...].firstRange(of: "): ") else { return "unknown error" }
        return String(summary[colon.upperBound...])
    }
}

/// The record of the backup an attempt just took, handed from the attempt to its run's events.
private final class LastBackup: Sendable {
    private let run = Mutex<BackupRecordSummary.Run?>(nil)

    func set(_ record: BackupRecordSummary.Run) { run.withLock { $0 = record } }
    func take() -> BackupRecordSummary.Run? { run.withLock { $0.take() } }
}
