public import FoundationEssentials

/// `GET /v1/status`: everything `opsctl status` shows.
public struct StatusReport: Codable, Sendable, Equatable {
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
    /// The configured workers and their states, in start order.
    public var workers: [WorkerStatus]
    /// The configured checks and their latest results, in config order.
    public var checks: [CheckStatus]
    /// The backup, if configured.
    public var backup: BackupStatus?
    /// Events each consumer of opsd's event stream (`alerts`, `journal`, `history`) dropped since
    /// opsd started because it fell behind; nil from an opsd without the event stream.
    public var eventDrops: [String: Int]?
    /// Alerts each route (by name) dropped since opsd started: its queue was full (the receiver
    /// is slow or down) or its rate limit was reached; nil from an opsd without alert routes' counts.
    public var alertDrops: [String: Int]?

    /// Creates a report.
    public init(
        version: String, pid: Int32, startedAt: Date, uptimeSeconds: Double, configPath: String, configLoadedAt: Date,
        reloads: Int, lastReloadErrors: [String]?, socket: String, stateDirectory: String,
        workers: [WorkerStatus], checks: [CheckStatus], backup: BackupStatus?, eventDrops: [String: Int]? = nil,
        alertDrops: [String: Int]? = nil
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
        self.eventDrops = eventDrops
        self.alertDrops = alertDrops
    }
}
