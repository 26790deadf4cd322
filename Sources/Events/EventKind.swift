/// Every kind of event opsd emits. The raw values are what routes name in `on:`, what the journal
/// carries in `OPS_EVENT` and what `opsctl events` prints; they are part of the user-facing
/// contract (docs/alerts.md), so add new kinds, never rename one.
public enum EventKind: String, Sendable, Hashable, CaseIterable, Codable {
    // Checks: a confirmed state change (after hysteresis).
    /// A check became WARNING.
    case checkWarn = "check_warn"
    /// A check became CRITICAL.
    case checkCrit = "check_crit"
    /// A check became UNKNOWN (it could not measure).
    case checkUnknown = "check_unknown"
    /// A check is OK again after a bad state.
    case checkRecover = "check_recover"

    // Workers.
    /// A worker exited while it was meant to run; opsd restarts it (or not, per its policy).
    case workerExited = "worker_exited"
    /// opsd gave up on a worker: it crashed more often than its `burst:` allows.
    case workerFatal = "worker_fatal"
    /// A notify worker stopped pinging its watchdog and was killed.
    case workerWatchdog = "worker_watchdog"
    /// A notify worker did not report READY within its start timeout.
    case workerStartTimeout = "worker_start_timeout"
    /// A worker that had failed runs again.
    case workerRecovered = "worker_recovered"

    // Jobs.
    /// A job failed after its retries.
    case jobFailed = "job_failed"
    /// A job ran past its timeout and was killed.
    case jobTimedOut = "job_timed_out"
    /// A run was skipped because the previous one was still running.
    case jobSkipped = "job_skipped"
    /// A job succeeded after failing.
    case jobRecovered = "job_recovered"

    // Backups.
    /// A backup failed: nothing new was stored.
    case backupFailed = "backup_failed"
    /// A backup was committed but its push failed: it exists on this host only.
    case backupLocal = "backup_local"
    /// A backup reached its remote again after failing or staying local.
    case backupRecovered = "backup_recovered"
    /// A restore replaced the database and configuration from a backup.
    case restore = "restore"

    // opsd itself.
    /// opsd started.
    case opsdStarted = "opsd_started"
    /// opsd is stopping.
    case opsdStopping = "opsd_stopping"
    /// A reload was refused: the file has problems; the previous configuration stays in force.
    case reloadRejected = "reload_rejected"
    /// opsd's own probe found the daemon unhealthy: the watchdog pings stop.
    case probeUnhealthy = "probe_unhealthy"
    /// opsd's probe answers again.
    case probeRecovered = "probe_recovered"

    /// The severity an event of this kind has unless its emitter says otherwise.
    public var severity: Severity {
        switch self {
        case .checkRecover, .workerRecovered, .jobRecovered, .backupRecovered, .probeRecovered: .ok
        case .restore, .opsdStarted, .opsdStopping, .jobSkipped: .info
        case .checkWarn, .checkUnknown, .workerExited, .jobTimedOut, .backupLocal, .reloadRejected: .warning
        case .checkCrit, .workerFatal, .workerWatchdog, .workerStartTimeout, .jobFailed, .backupFailed, .probeUnhealthy: .critical
        }
    }

    /// The sort of subject events of this kind are about.
    public var subjectKind: Subject.Kind {
        switch self {
        case .checkWarn, .checkCrit, .checkUnknown, .checkRecover: .check
        case .workerExited, .workerFatal, .workerWatchdog, .workerStartTimeout, .workerRecovered: .worker
        case .jobFailed, .jobTimedOut, .jobSkipped, .jobRecovered: .job
        case .backupFailed, .backupLocal, .backupRecovered, .restore: .backup
        case .opsdStarted, .opsdStopping, .reloadRejected, .probeUnhealthy, .probeRecovered: .daemon
        }
    }

    /// The names `alerts[].on` accepted before events covered more than checks: `warn`, `crit`,
    /// `unknown`, `recover`. They still mean the check events.
    public static let checkAliases: [String: EventKind] = [
        "warn": .checkWarn, "crit": .checkCrit, "unknown": .checkUnknown, "recover": .checkRecover,
    ]

    /// The kind named `name` (a raw value or one of ``checkAliases``).
    public init?(named name: String) {
        guard let kind = EventKind(rawValue: name) ?? Self.checkAliases[name] else { return nil }
        self = kind
    }
}
