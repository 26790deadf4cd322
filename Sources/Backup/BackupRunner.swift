public import Foundation
public import Logging
public import OpsConfig
public import BackupRecords

/// Runs backups and restores for one configuration: the entry point for opsd's scheduler and for
/// `opsctl backup` / `opsctl restore`.
///
/// Every call runs on a thread of its own: libgit2 and SQLite calls block, and libgit2 keeps its
/// error messages per thread. The repository lock makes concurrent calls (from any process) fail
/// fast with a clear message instead of queueing.
public struct BackupRunner: Sendable {
    /// The resolved plan.
    public private(set) var plan: BackupPlan
    /// `daemon.state_dir`, where the history is recorded.
    public let stateDirectory: String
    let logger: Logger
    /// Push attempts per backup, and the first retry delay (doubled after each failure).
    let pushAttempts: Int
    let pushFirstDelay: Duration

    /// A runner for `configuration`'s `backup:` section; fails when there is none or it is unusable.
    /// `configPath` is the file `configuration` was read from: a backup stores it with its secret
    /// values masked.
    public init(
        configuration: Configuration, configPath: String? = nil, logger: Logger, pushAttempts: Int = 4, pushFirstDelay: Duration = .seconds(2)
    ) throws(BackupError) {
        guard let spec = configuration.backup else {
            throw BackupError("the configuration has no backup: section; add one with at least backup.repository")
        }
        plan = try BackupPlan(spec: spec, stateDirectory: configuration.daemon.stateDirectory)
        plan.secretFiles = ConfigSecrets.files(in: configuration)
        plan.configPath = configPath
        stateDirectory = configuration.daemon.stateDirectory
        self.logger = logger
        self.pushAttempts = pushAttempts
        self.pushFirstDelay = pushFirstDelay
    }

    /// Takes one backup, commits it when something changed, pushes what the remote lacks, and
    /// records the result in the state database.
    public func run() async throws(BackupError) -> BackupOutcome {
        let started = Date()
        let session = BackupSession(plan: plan, logger: logger, pushAttempts: pushAttempts, pushFirstDelay: pushFirstDelay)
        let result = await onOwnThread { () throws(BackupError) in try session.run() }
        let history = try? BackupHistory(stateDirectory: stateDirectory)
        switch result {
        case .success(let outcome):
            do { try history?.record(started: started, finished: Date(), outcome: outcome) } catch {
                logger.warning("cannot record the backup in the state database", metadata: ["error": "\(error)"])
            }
            logger.info("backup finished", metadata: [
                "commit": "\(outcome.commit ?? "none (no change)")", "stored_bytes": "\(outcome.storedBytes)", "push": "\(outcome.push.state.rawValue)",
            ])
            return outcome
        case .failure(let error):
            try? history?.recordFailure(started: started, finished: Date(), remoteConfigured: plan.remote != nil, error: error.description)
            logger.error("backup failed", metadata: ["error": "\(error.description)"])
            throw error
        }
    }

    /// Restores databases from a backup; see `RestoreRequest`. `hooks` stop and start the
    /// databases' workers around an in-place swap.
    public func restore(_ request: RestoreRequest, hooks: RestoreHooks? = nil) async throws(BackupError) -> RestoreOutcome {
        let restorer = Restorer(plan: plan, logger: logger)
        return try await onOwnThread { () throws(BackupError) in try restorer.restore(request, hooks: hooks) }.get()
    }

    /// The backups on the branch, newest first, with whether the remote has each.
    public func list(fromRemote: Bool = false) async throws(BackupError) -> [BackupEntry] {
        let plan = plan
        let logger = logger
        return try await onOwnThread { () throws(BackupError) in try BackupCatalog(plan: plan, logger: logger).entries(fromRemote: fromRemote) }.get()
    }

    /// The recorded history (last run, last success, last time the remote had everything), for
    /// `opsctl status`'s backup section.
    public func history() throws -> BackupRecordSummary {
        try BackupHistory(stateDirectory: stateDirectory).summary()
    }

    /// The freshness of backups from the recorded history, for the `backup` check kind.
    public func freshness(maxAge: Duration, now: Date = Date()) throws -> BackupFreshness.Verdict {
        let summary = try BackupHistory(stateDirectory: stateDirectory).summary()
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
