/// `limits:` of a worker: resource limits in two families.
///
/// The rlimits (`nofile`, `core`, `nproc`, `memlock`) are set in the child before it execs, on
/// every machine. The cgroup limits (`memory`, `memory_high`, `cpu`, `tasks`) are written to the
/// worker's own cgroup, which exists only when opsd runs under systemd with `Delegate=yes`;
/// elsewhere opsd says once that they are not applied.
public struct WorkerLimits: Sendable, Equatable {
    /// `RLIMIT_NOFILE`: open descriptors.
    public var nofile: ResourceLimit?
    /// `RLIMIT_CORE`: the largest core file, in bytes (0: none).
    public var core: ResourceLimit?
    /// `RLIMIT_NPROC`: processes of the worker's user.
    public var nproc: ResourceLimit?
    /// `RLIMIT_MEMLOCK`: locked memory, in bytes.
    public var memlock: ResourceLimit?
    /// `memory.max` in bytes: past it the kernel's OOM killer ends the worker.
    public var memory: UInt64?
    /// `memory.high` in bytes: past it the worker is throttled and reclaimed hard.
    public var memoryHigh: UInt64?
    /// `cpu.max` as a percentage of one CPU (`200` is two CPUs).
    public var cpuPercent: Int?
    /// `pids.max`: processes and threads in the worker's cgroup.
    public var tasks: Int?

    /// No limits.
    public init() {}

    /// The keys of `limits:`, in the order the documentation gives them.
    public static let keys = ["nofile", "core", "nproc", "memlock", "memory", "memory_high", "cpu", "tasks"]

    /// The cgroup limits this worker sets, by their config key: what needs delegation.
    public var cgroupKeys: [String] {
        [("memory", memory != nil), ("memory_high", memoryHigh != nil), ("cpu", cpuPercent != nil), ("tasks", tasks != nil)]
            .filter(\.1).map(\.0)
    }

    /// The rlimits this worker sets, as (resource name, limit), in a fixed order.
    public var resourceLimits: [(name: String, limit: ResourceLimit)] {
        [("nofile", nofile), ("core", core), ("nproc", nproc), ("memlock", memlock)].compactMap { entry in
            entry.1.map { (entry.0, $0) }
        }
    }
}

/// One rlimit: a soft and a hard value, `nil` meaning unlimited (`infinity`).
public struct ResourceLimit: Sendable, Equatable, CustomStringConvertible {
    /// The limit the process meets (it may raise it up to `hard`).
    public var soft: UInt64?
    /// The ceiling; only a privileged process raises it.
    public var hard: UInt64?

    /// A limit with both values; `nil` is unlimited.
    public init(soft: UInt64?, hard: UInt64?) {
        self.soft = soft
        self.hard = hard
    }

    /// `65536`, `1024:65536`, `infinity`.
    public var description: String {
        let text = { (value: UInt64?) in value.map { "\($0)" } ?? "infinity" }
        return soft == hard ? text(soft) : "\(text(soft)):\(text(hard))"
    }
}
