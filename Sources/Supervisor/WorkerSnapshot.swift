public import ProcessControl

/// One worker as the supervisor sees it at one moment: what `opsctl status` and the worker
/// actions report, in the supervisor's own terms (the daemon turns it into the API's form).
public struct WorkerSnapshot: Sendable, Equatable {
    /// The worker's name.
    public var name: String
    /// Its lifecycle state.
    public var state: Supervisor.State
    /// The command line.
    public var command: [String]
    /// The process id while it runs.
    public var pid: Int32?
    /// How long the current process has run, while it runs.
    public var uptime: Duration?
    /// Unplanned restarts: after a failure or an exit, by the restart policy or a check's
    /// `restart:`. What says a worker is unwell.
    public var restarts: Int
    /// Starts, stops and restarts an operator asked for; a deploy is not a crash loop.
    public var operatorActions: Int = 0
    /// Restarts because a run reached its `max_lifetime`.
    public var plannedRestarts: Int = 0
    /// How the last process ended.
    public var lastExit: ExitStatus?
    /// The worker's own STATUS= line (notify workers).
    public var statusText: String?
    /// Memory in bytes: the cgroup's `memory.current` under delegation, else the main process's
    /// resident size (when /proc could be read).
    public var residentBytes: UInt64?
    /// CPU time (user + system): the whole cgroup's under delegation, else the main process's.
    public var cpuTime: Duration?
    /// Why it is down, when it is fatal or could not start.
    public var message: String?
}
