/// One worker in `StatusReport`, and the answer to `POST /v1/workers/NAME/start|stop|restart`.
public struct WorkerStatus: Codable, Sendable, Equatable {
    /// A worker's lifecycle state.
    public enum State: String, Codable, Sendable, CaseIterable {
        /// Launched; a `notify: true` worker stays here until it sends READY=1.
        case starting
        /// Up.
        case running
        /// Waiting before the next start after a quick crash.
        case backoff
        /// Its stop signal was sent; waiting for it to end.
        case stopping
        /// Stopped on request (opsctl, reload, shutdown), or not started yet.
        case stopped
        /// Ended and, by its restart policy, stays down.
        case exited
        /// Crashed more often than `burst` allows; down until `opsctl workers start NAME`.
        case fatal
    }

    /// The worker's name.
    public var name: String
    /// Its lifecycle state.
    public var state: State
    /// The command line.
    public var command: [String]
    /// The process id while it runs.
    public var pid: Int32?
    /// Seconds since the current process started, while it runs.
    public var uptimeSeconds: Double?
    /// Unplanned restarts: after a failure or an exit (the restart policy, a check's `restart:`).
    public var restarts: Int
    /// Starts, stops and restarts an operator asked for (nil from an older opsd).
    public var operatorActions: Int?
    /// Restarts because a run reached its `max_lifetime` (nil from an older opsd).
    public var plannedRestarts: Int?
    /// How the last process ended.
    public var lastExit: ProcessExit?
    /// The worker's own STATUS= line (notify workers).
    public var statusText: String?
    /// Memory of the worker, in bytes: its cgroup's `memory.current` (every process, page cache
    /// included) where opsd has a delegated cgroup with the memory controller; else the resident
    /// size of its main process.
    public var rssBytes: UInt64?
    /// CPU time (user + system) of the worker's current run, in seconds: its whole cgroup's under
    /// delegation, else its main process's.
    public var cpuSeconds: Double?
    /// Why it is down, when it is fatal or could not start.
    public var message: String?

    /// Creates a worker status.
    public init(
        name: String, state: State, command: [String], pid: Int32? = nil, uptimeSeconds: Double? = nil, restarts: Int = 0,
        operatorActions: Int? = nil, plannedRestarts: Int? = nil, lastExit: ProcessExit? = nil, statusText: String? = nil, rssBytes: UInt64? = nil, cpuSeconds: Double? = nil, message: String? = nil
    ) {
        self.name = name
        self.state = state
        self.command = command
        self.pid = pid
        self.uptimeSeconds = uptimeSeconds
        self.restarts = restarts
        self.operatorActions = operatorActions
        self.plannedRestarts = plannedRestarts
        self.lastExit = lastExit
        self.statusText = statusText
        self.rssBytes = rssBytes
        self.cpuSeconds = cpuSeconds
        self.message = message
    }
}
