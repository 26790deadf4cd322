import Glibc
import Synchronization

/// The cgroup limits of one worker (`limits: {memory, memory_high, cpu, tasks}`); nil: none.
public struct CgroupLimits: Sendable, Equatable {
    /// `memory.max`, bytes.
    public var memoryMax: UInt64?
    /// `memory.high`, bytes.
    public var memoryHigh: UInt64?
    /// `cpu.max` as a percentage of one CPU.
    public var cpuPercent: Int?
    /// `pids.max`.
    public var pidsMax: Int?

    /// Limits as given.
    public init(memoryMax: UInt64? = nil, memoryHigh: UInt64? = nil, cpuPercent: Int? = nil, pidsMax: Int? = nil) {
        self.memoryMax = memoryMax
        self.memoryHigh = memoryHigh
        self.cpuPercent = cpuPercent
        self.pidsMax = pidsMax
    }

    /// The period of `cpu.max`, in microseconds (the kernel's and systemd's default).
    static let cpuPeriod = 100_000

    /// (controller, file, value) for each limit; "max" where none is set, so a limit taken out of
    /// the configuration is lifted at the next start.
    var files: [(controller: String, file: String, value: String, isSet: Bool)] {
        [
            ("memory", "memory.max", memoryMax.map { "\($0)" } ?? "max", memoryMax != nil),
            ("memory", "memory.high", memoryHigh.map { "\($0)" } ?? "max", memoryHigh != nil),
            ("cpu", "cpu.max", "\(cpuPercent.map { "\($0 * Self.cpuPeriod / 100)" } ?? "max") \(Self.cpuPeriod)", cpuPercent != nil),
            ("pids", "pids.max", pidsMax.map { "\($0)" } ?? "max", pidsMax != nil),
        ]
    }
}

/// What a worker's whole cgroup uses: every process in it, not only the main one.
public struct CgroupUsage: Sendable, Equatable {
    /// `cpu.stat`'s usage_usec (present on every cgroup v2 kernel, controller or not).
    public var cpuTime: Duration?
    /// `memory.current` (with the memory controller).
    public var memoryBytes: UInt64?
}

/// One worker's cgroup, `<opsd's cgroup>/workers/NAME`: its child joins it before exec (through
/// the open `cgroup.procs`), its limits are written when they change, and `kill()` ends all
/// that runs in it, descendants that called setsid included.
public final class WorkerCgroup: Sendable {
    /// The directory.
    public let directory: String
    /// `cgroup.procs`, open for the spawner: the child writes "0" to it before it execs, where
    /// it was not born in the cgroup already.
    let procsDescriptor: Int32
    /// The directory, open for clone3's CLONE_INTO_CGROUP (the child is born in the cgroup,
    /// without the cost of a move); -1 when it could not be opened.
    let directoryDescriptor: Int32
    /// The controllers enabled for it.
    let controllers: Set<String>
    private let state = Mutex<(applied: CgroupLimits?, oomKills: UInt64)>((nil, 0))

    init(directory: String, controllers: Set<String>) throws(CgroupError) {
        try CgroupFile.makeDirectory(directory)
        // O_CREAT serves only a test's tree of plain files (see `CgroupFile.write`).
        let descriptor = open("\(directory)/cgroup.procs", O_WRONLY | O_CREAT | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else { throw CgroupError("cannot open \(directory)/cgroup.procs", errno) }
        self.directory = directory
        self.procsDescriptor = descriptor
        self.directoryDescriptor = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        self.controllers = controllers
        let seen = CgroupFile.keyed("\(directory)/memory.events")?["oom_kill"] ?? 0
        state.withLock { $0.oomKills = seen }
    }

    deinit {
        close(procsDescriptor)
        if directoryDescriptor >= 0 { close(directoryDescriptor) }
    }

    /// Writes `limits` unless they are what was written last. Returns the controllers a set limit
    /// needs that this cgroup does not have (those limits are not applied), and the files that
    /// could not be written with their errors.
    public func apply(_ limits: CgroupLimits) -> (missing: [String], failed: [String]) {
        guard state.withLock({ $0.applied }) != limits else { return ([], []) }
        var missing: [String] = [], failed: [String] = []
        for entry in limits.files {
            guard controllers.contains(entry.controller) else {
                if entry.isSet, !missing.contains(entry.controller) { missing.append(entry.controller) }
                continue
            }
            let code = CgroupFile.write("\(directory)/\(entry.file)", entry.value)
            if code != 0 { failed.append("\(entry.file) = \(entry.value): \(String(cString: strerror(code)))") }
        }
        state.withLock { $0.applied = failed.isEmpty ? limits : nil }
        return (missing, failed)
    }

    /// Kills every process in the cgroup at once (`cgroup.kill`, Linux 5.14+); on older kernels
    /// each pid listed in `cgroup.procs` gets SIGKILL.
    public func kill() {
        if CgroupFile.write("\(directory)/cgroup.kill", "1") == 0 { return }
        signal(SIGKILL)
    }

    /// Sends `signal` to every process listed in `cgroup.procs`.
    public func signal(_ signal: Int32) {
        for pid in (CgroupFile.read("\(directory)/cgroup.procs") ?? "").split(separator: "\n").compactMap({ Int32($0) }) where pid > 0 {
            Glibc.kill(pid, signal)
        }
    }

    /// How many OOM kills happened in the cgroup since the last call (or its creation), from
    /// `memory.events`; 0 without the memory controller.
    public func newOOMKills() -> UInt64 {
        guard let count = CgroupFile.keyed("\(directory)/memory.events")?["oom_kill"] else { return 0 }
        return state.withLock { seen in
            defer { seen.oomKills = count }
            return count > seen.oomKills ? count - seen.oomKills : 0
        }
    }

    /// CPU time and memory of everything in the cgroup, each nil where the file is missing.
    public func usage() -> CgroupUsage {
        let cpu = CgroupFile.keyed("\(directory)/cpu.stat")?["usage_usec"].map { Duration.microseconds(Int64(clamping: $0)) }
        let memory = CgroupFile.read("\(directory)/memory.current").flatMap { $0.split(separator: "\n").first.flatMap { UInt64($0) } }
        return CgroupUsage(cpuTime: cpu, memoryBytes: memory)
    }

    /// Removes the directory once it is empty (a worker dropped by a reload); false while
    /// processes remain in it.
    @discardableResult
    public func remove() -> Bool {
        rmdir(directory) == 0
    }

    /// Kills what is left in the cgroup and removes it once the kernel has taken the last process
    /// out: a killed process leaves its cgroup a moment after `cgroup.kill`, and until then
    /// rmdir fails with EBUSY. Looks again every 10 ms for at most `limit` (only while a reload
    /// drops a worker, never while opsd idles); false when processes remain after it, which the
    /// kernel can take long to reap (a process in uninterruptible sleep, on a hung NFS mount).
    @discardableResult
    public func killAndRemove(within limit: Duration = .seconds(2)) async -> Bool {
        kill()
        let deadline = ContinuousClock.now + limit
        while true {
            if remove() || errno == ENOENT { return true }
            guard errno == EBUSY, ContinuousClock.now < deadline else { return false }
            do { try await Task.sleep(for: .milliseconds(10)) } catch { return false }
        }
    }
}
