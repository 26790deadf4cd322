public import FoundationEssentials
import Glibc

/// `GET /v1/status`: everything `opsctl status` shows.
public struct StatusReport: Codable, Sendable {
    /// opsd's version.
    public var version: String
    /// opsd's process id.
    public var pid: Int32
    /// When opsd started.
    public var startedAt: Date
    /// Seconds since start.
    public var uptimeSeconds: Double
    /// The configuration file in force.
    public var configPath: String
    /// When that file was last loaded successfully.
    public var configLoadedAt: Date
    /// Successful reloads since start.
    public var reloads: Int
    /// The problems of the last rejected reload, if the last reload was rejected.
    public var lastReloadErrors: [String]?
    /// The control socket.
    public var socket: String
    /// opsd's state directory.
    public var stateDirectory: String
    /// The configured workers and their states.
    public var workers: [WorkerStatus]
    /// The configured checks and their latest results.
    public var checks: [CheckStatus]
    /// The backup, if configured.
    public var backup: BackupStatus?

    /// Creates a report.
    public init(
        version: String, pid: Int32, startedAt: Date, uptimeSeconds: Double, configPath: String, configLoadedAt: Date,
        reloads: Int, lastReloadErrors: [String]?, socket: String, stateDirectory: String,
        workers: [WorkerStatus], checks: [CheckStatus], backup: BackupStatus?
    ) {
        self.version = version
        self.pid = pid
        self.startedAt = startedAt
        self.uptimeSeconds = uptimeSeconds
        self.configPath = configPath
        self.configLoadedAt = configLoadedAt
        self.reloads = reloads
        self.lastReloadErrors = lastReloadErrors
        self.socket = socket
        self.stateDirectory = stateDirectory
        self.workers = workers
        self.checks = checks
        self.backup = backup
    }
}

/// One worker in `StatusReport`.
public struct WorkerStatus: Codable, Sendable {
    /// The worker's name.
    public var name: String
    /// starting, running, backoff, stopping, stopped, exited or fatal.
    public var state: String
    /// The command line.
    public var command: [String]
    /// The process id while it runs.
    public var pid: Int32?
    /// Seconds since the current process started.
    public var uptimeSeconds: Double?
    /// Starts after the first.
    public var restarts: Int
    /// How the last process ended: `exit 1`, `signal 9 (KILL)`.
    public var lastExit: String?
    /// The worker's own STATUS= line (notify workers).
    public var statusText: String?
    /// Resident memory of the worker's main process.
    public var rssBytes: UInt64?
    /// CPU time of the worker's main process.
    public var cpuSeconds: Double?
    /// Why it is down, when it is fatal or could not start.
    public var message: String?

    /// Creates a worker status.
    public init(
        name: String, state: String, command: [String], pid: Int32? = nil, uptimeSeconds: Double? = nil, restarts: Int = 0,
        lastExit: String? = nil, statusText: String? = nil, rssBytes: UInt64? = nil, cpuSeconds: Double? = nil, message: String? = nil
    ) {
        self.name = name
        self.state = state
        self.command = command
        self.pid = pid
        self.uptimeSeconds = uptimeSeconds
        self.restarts = restarts
        self.lastExit = lastExit
        self.statusText = statusText
        self.rssBytes = rssBytes
        self.cpuSeconds = cpuSeconds
        self.message = message
    }
}

/// One check in `StatusReport`.
public struct CheckStatus: Codable, Sendable {
    /// The check's name.
    public var name: String
    /// disk, memory, sqlite, queue, http or command.
    public var kind: String
    /// `pending` until the check has run; then ok, warn, crit, unknown.
    public var state: String
    /// How often it runs, e.g. `1m`.
    public var every: String
    /// The latest run's message, once it has run.
    public var message: String?
    /// When it last ran.
    public var lastRun: Date?

    /// Creates a check status.
    public init(name: String, kind: String, state: String, every: String, message: String? = nil, lastRun: Date? = nil) {
        self.name = name
        self.kind = kind
        self.state = state
        self.every = every
        self.message = message
        self.lastRun = lastRun
    }
}

/// The backup in `StatusReport`.
public struct BackupStatus: Codable, Sendable {
    /// The local repository.
    public var repository: String
    /// The remote, without credentials.
    public var remote: String?
    /// The cron schedule, if the daemon takes backups on its own.
    public var schedule: String?
    /// When the last backup was committed, if ever.
    public var lastBackupAt: Date?
    /// When the remote last had every local commit, if ever.
    public var lastPushedAt: Date?
    /// Local commits the remote does not have yet (after the latest run).
    public var unpushedCommits: Int?
    /// Why the latest run, or its push, failed.
    public var lastError: String?

    /// Creates a backup status.
    public init(
        repository: String, remote: String?, schedule: String?, lastBackupAt: Date?,
        lastPushedAt: Date? = nil, unpushedCommits: Int? = nil, lastError: String? = nil
    ) {
        self.repository = repository
        self.remote = remote
        self.schedule = schedule
        self.lastBackupAt = lastBackupAt
        self.lastPushedAt = lastPushedAt
        self.unpushedCommits = unpushedCommits
        self.lastError = lastError
    }
}

/// `POST /v1/reload`: what a reload did.
public struct ReloadReport: Codable, Sendable {
    /// Whether the new configuration is now in force.
    public var applied: Bool
    /// The problems that made it rejected (empty when applied).
    public var problems: [String]
    /// The sections that changed (`workers`, `checks`, …), when applied.
    public var changedSections: [String]
    /// Changes that need a restart of opsd to take effect (e.g. the socket path).
    public var needsRestart: [String]

    /// Creates a reload report.
    public init(applied: Bool, problems: [String], changedSections: [String], needsRestart: [String]) {
        self.applied = applied
        self.problems = problems
        self.changedSections = changedSections
        self.needsRestart = needsRestart
    }
}
