public import Foundation
public import Logging
public import OpsConfig
public import BackupRecords
public import OpsLogging
import Scheduling

/// Runs backups and restores for one configuration: the entry point for opsd's scheduler and for
/// `opsctl backup` / `opsctl restore`.
///
/// Every call runs on a thread of its own: libgit2 and SQLite calls block, and libgit2 keeps its
/// error messages per thread. The repository lock makes concurrent calls (from any process) fail
/// fast with a clear message instead of queueing.
public struct BackupRunner: Sendable {
    /// The resolved plan.
    public internal(set) var plan: BackupPlan
    /// `daemon.state_dir`, where the history is recorded.
    public let stateDirectory: String
    let logger: Logger
    /// How a failed push is retried: `pushAttempts` attempts in all, the first retry after
    /// `pushFirstDelay`, each later one after twice the previous wait.
    let pushRetry: RetryPolicy
    /// Hears each step of a backup or restore as it is reached; nil in the programs, set by the
    /// test kit's companion to stop at a step (`BackupStep`).
    let observer: BackupStepObserver?
    /// Draws the phases' progress on a terminal; nil where nobody watches (opsd's jobs, cron, --json).
    let progress: ProgressReporter?

    /// A runner for `configuration`'s `backup:` section; fails when there is none or it is unusable.
    /// `configPath` is the file `configuration` was read from: a backup stores it with its secret
    /// values masked. `observer` hears each `BackupStep` reached; `progress` is told how far each
    /// phase got.
    public init(
        configuration: Configuration, configPath: String? = nil, logger: Logger, pushAttempts: Int = 4, pushFirstDelay: Duration = .seconds(2),
        observer: BackupStepObserver? = nil, progress: ProgressReporter? = nil
    ) throws(BackupError) {
        guard let spec = configuration.backup else {
            throw BackupError("the configuration has no backup: section; add one with at least backup.repository")
        }
        plan = try BackupPlan(spec: spec, stateDirectory: configuration.daemon.stateDirectory)
        plan.secretFiles = ConfigSecrets.files(in: configuration)
        plan.configPath = configPath
        stateDirectory = configuration.daemon.stateDirectory
        self.logger = logger
        pushRetry = RetryPolicy(initial: pushFirstDelay, factor: 2, retries: max(pushAttempts, 1) - 1)
        self.observer = observer
        self.progress = progress
    }

    /// Takes one backup, commits it when something changed, pushes what the remote lacks, and
    /// records the result in the state database, under `runID` when the caller gave one (opsd's
    /// scheduled backup does, to read back exactly this run).
    public func run(runID: String? = nil) async throws(BackupError) -> BackupOutcome {
        let started = Date()
        let session = BackupSession(plan: plan, logger: logger, pushRetry: pushRetry, observer: observer, progress: progress)
        let result = await onOwnThread { () throws(BackupError) in try session.run() }
        progress?.finish()
        let history: BackupHistory?
        do { history = try await BackupHistory.open(stateDirectory: stateDirectory) } catch {
            logger.warning("cannot open the state database to record the backup", metadata: ["state_dir": "\(stateDirectory)", "error": "\(error)"])
            history = nil
        }
        switch result {
        case .success(let outcome):
            do { try await history?.record(started: started, finished: Date(), outcome: outcome, runID: runID) } catch {
                logger.warning("cannot record the backup in the state database", metadata: ["error": "\(error)"])
            }
            logger.info("backup finished", metadata: [
                "commit": "\(outcome.commit ?? "none (no change)")", "stored_bytes": "\(outcome.storedBytes)", "push": "\(outcome.push.state.rawValue)",
            ])
            return outcome
        case .failure(let error):
            do {
                try await history?.recordFailure(
                    started: started, finished: Date(), remoteConfigured: plan.remote != nil, error: error.description, runID: runID)
            } catch {
                logger.warning("cannot record the failed backup in the state database", metadata: ["error": "\(error)"])
            }
            logger.error("backup failed", metadata: ["error": "\(error.description)"])
            throw error
        }
    }

    /// Restores databases from a backup; see `RestoreRequest`. `hooks` stop and start the
    /// databases' workers around an in-place swap.
    public func restore(_ request: RestoreRequest, hooks: RestoreHooks? = nil) async throws(BackupError) -> RestoreOutcome {
        let restorer = Restorer(plan: plan, logger: logger, observer: observer, progress: progress)
        let result = await onOwnThread { () throws(BackupError) in try restorer.restore(request, hooks: hooks) }
        progress?.finish()
        return try result.get()
    }

    /// The backups on the branch, newest first, with whether the remote has each.
    public func list(fromRemote: Bool = false) async throws(BackupError) -> [BackupEntry] {
        let plan = plan
        let logger = logger
        let progress = progress
        let result = await onOwnThread { () throws(BackupError) in try BackupCatalog(plan: plan, logger: logger, progress: progress).entries(fromRemote: fromRemote) }
        progress?.finish()
        return try result.get()
    }

    /// The freshness of backups from the recorded history, for the `backup` check kind.
    public func freshness(maxAge: Duration, now: Date = Date()) throws -> BackupFreshness.Verdict {
        let summary = try BackupHistory(stateDirectory: stateDirectory).summaryBlocking()
        return BackupFreshness.evaluate(summary, remoteConfigured: plan.remote != nil, maxAge: maxAge, now: now)
    }
}

/// Runs `body` on a new thread and waits for it without blocking the caller's executor.
func onOwnThread<T: Sendable>(_ body: @escaping @Sendable () throws(BackupError) -> T) async -> Result<T, BackupError> {
    await withCheckedContinuation { continuation in
        let thread = Thread {
            do throws(BackupError) {
                continuation.resume(returning: .success(try body()))
            } catch {
                continuation.resume(returning: .failure(error))
            }
        }
        thread.stackSize = 4 << 20
        thread.start()
    }
}
