import Glibc
import Logging
import OpsConfig
import ProcessControl

/// The supervisor's side of the workers' cgroups (issue 16 item 1) and rlimits (item 2): what a
/// launch adds to a worker's recipe, what an exit and a status request read, and the one-time
/// messages when limits cannot be applied. Files are touched only at those moments: no polling.
struct WorkerCgroups {
    let delegation: CgroupDelegation
    /// Created on a worker's first start and reused for every later one.
    private var cgroups: [String: WorkerCgroup] = [:]
    /// `cpu.stat`'s usage when the current run started, so status shows the run's CPU time.
    private var cpuAtStart: [String: Duration] = [:]
    /// Why the last run ended, when the cgroup says more than the exit status (an OOM kill).
    private var exitReasons: [String: String] = [:]
    private var reportedControllers: Set<String> = []
    private var reportedUnavailable = false

    init(_ delegation: CgroupDelegation) {
        self.delegation = delegation
    }

    /// Adds `spec`'s rlimits to `recipe` and, under delegation, its cgroup (created on first use,
    /// its limits written when they changed).
    mutating func prepare(_ recipe: inout LaunchRecipe, for spec: WorkerSpec, logger: Logger) {
        recipe.resourceLimits = spec.limits.childResourceLimits
        guard case .delegated(let tree) = delegation else { return }
        let cgroup: WorkerCgroup
        if let existing = cgroups[spec.name] {
            cgroup = existing
        } else {
            do {
                cgroup = try tree.worker(spec.name)
            } catch {
                logger.error("the worker runs without a cgroup of its own, so its cgroup limits are not applied: \(error)", metadata: ["worker": "\(spec.name)"])
                return
            }
            cgroups[spec.name] = cgroup
        }
        let applied = cgroup.apply(spec.limits.cgroupLimits)
        for controller in applied.missing where reportedControllers.insert(controller).inserted {
            logger.warning("cgroup limits that need the \(controller) controller (\(Self.keys(of: controller))) are not applied: opsd's cgroup does not offer it (cgroup.controllers); the other limits are", metadata: ["worker": "\(spec.name)"])
        }
        for failure in applied.failed {
            logger.error("a cgroup limit could not be written: \(failure)", metadata: ["worker": "\(spec.name)"])
        }
        cpuAtStart[spec.name] = cgroup.usage().cpuTime
        recipe.cgroup = cgroup
    }

    /// Says once, when some worker sets a cgroup limit and opsd has no delegated cgroup, that
    /// those limits are not applied and why.
    mutating func reportUnapplied(_ specs: [WorkerSpec], logger: Logger) {
        guard !reportedUnavailable, case .unavailable(let reason) = delegation else { return }
        let limited = specs.filter { !$0.limits.cgroupKeys.isEmpty }
        guard !limited.isEmpty else { return }
        reportedUnavailable = true
        let which = limited.map { "\($0.name) (\($0.limits.cgroupKeys.joined(separator: ", ")))" }.joined(separator: "; ")
        logger.warning("cgroup limits are not applied: \(reason). Workers with limits: \(which). Process groups remain the fallback, and rlimits apply", metadata: [
            "workers": "\(limited.map(\.name).joined(separator: ", "))",
        ])
    }

    /// Sends `signal` to every process in the worker's cgroup, as the stop signal goes to its
    /// process group: a descendant in a session of its own gets it too.
    func signal(_ name: String, _ signal: Int32) {
        cgroups[name]?.signal(signal)
    }

    /// Kills whatever is left in the worker's cgroup once its main process has ended or would not
    /// stop, and notes whether the OOM killer was at work since the last exit.
    mutating func ended(_ name: String, spec: WorkerSpec, status: ExitStatus?) {
        guard let cgroup = cgroups[name] else { return }
        cgroup.kill()
        guard let status else { return }
        let kills = cgroup.newOOMKills()
        guard kills > 0 else {
            exitReasons[name] = nil
            return
        }
        let limit = spec.limits.memory.map { " (memory.max \(ByteSize.format($0)))" } ?? ""
        exitReasons[name] = status == .signaled(SIGKILL)
            ? "killed by the OOM killer\(limit)"
            : "ended with \(status) after the OOM killer killed \(kills == 1 ? "one of its processes" : "\(kills) of its processes")\(limit)"
    }

    /// Why the last run ended, when the cgroup knows more than the exit status.
    func exitReason(_ name: String) -> String? {
        exitReasons[name]
    }

    /// CPU time of the current run and memory of the whole cgroup, where the files exist.
    func usage(_ name: String) -> CgroupUsage? {
        guard let cgroup = cgroups[name] else { return nil }
        var usage = cgroup.usage()
        if let total = usage.cpuTime, let start = cpuAtStart[name] { usage.cpuTime = total - start }
        return usage
    }

    /// Drops a worker that a reload removed; returns its cgroup, for the caller to kill what is
    /// left in it and remove it (`WorkerCgroup.killAndRemove`, which waits, outside this state).
    mutating func forget(_ name: String) -> WorkerCgroup? {
        cpuAtStart[name] = nil
        exitReasons[name] = nil
        return cgroups.removeValue(forKey: name)
    }

    private static func keys(of controller: String) -> String {
        switch controller {
        case "memory": "memory, memory_high"
        case "cpu": "cpu"
        default: "tasks"
        }
    }
}

extension WorkerLimits {
    /// The rlimits, as the child sets them.
    var childResourceLimits: [ChildResourceLimit] {
        resourceLimits.compactMap { entry in
            ChildResourceLimit.Resource(rawValue: entry.name).map { ChildResourceLimit($0, soft: entry.limit.soft, hard: entry.limit.hard) }
        }
    }

    /// The cgroup limits, as the worker's cgroup files take them.
    var cgroupLimits: CgroupLimits {
        CgroupLimits(memoryMax: memory, memoryHigh: memoryHigh, cpuPercent: cpuPercent, pidsMax: tasks)
    }
}
