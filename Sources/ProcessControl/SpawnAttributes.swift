import CSpawn
import FoundationEssentials
import Glibc

extension SpawnRequest {
    /// Forks and execs the request with `ops_spawn`, as `resolved` (``resolved()``) says; returns
    /// nil and sets `pid`, or why it failed. The one place that turns a `SpawnRequest` into C:
    /// `ChildProcesses` and `DirectSpawner` share it.
    func spawn(_ resolved: ResolvedSpawn, deathSignal: Int32, pid: inout Int32) -> SpawnError.Reason? {
        let argv = CStringArray(arguments)
        let envp = CStringArray(environment.map { "\($0.key)=\($0.value)" }.sorted())
        let strings = CStringArray([resolved.path, workingDirectory ?? ""])
        let nullDevice = open("/dev/null", O_RDWR | O_CLOEXEC)
        defer { if nullDevice >= 0 { close(nullDevice) } }

        var attr = ops_spawn_attr()
        attr.path = UnsafePointer(strings.pointer[0])
        attr.argv = UnsafePointer(argv.pointer)
        attr.envp = UnsafePointer(envp.pointer)
        attr.cwd = workingDirectory == nil ? nil : UnsafePointer(strings.pointer[1])
        attr.stdin_fd = input ?? nullDevice
        attr.stdout_fd = output ?? nullDevice
        attr.stderr_fd = output ?? nullDevice
        let groups = resolved.ids?.groups ?? []
        if let ids = resolved.ids {
            attr.set_ids = 1
            attr.uid = ids.uid
            attr.gid = ids.gid
            attr.group_count = Int32(groups.count)
        }
        if let umask {
            attr.set_umask = 1
            attr.umask = umask
        }
        attr.death_signal = deathSignal
        attr.nofile_soft = UInt(Self.childDescriptorLimit.withLock { $0 } ?? 0)
        if let cgroup {
            attr.join_cgroup = 1
            attr.cgroup_procs_fd = cgroup.procsDescriptor
            attr.cgroup_dir_fd = cgroup.directoryDescriptor
        }
        let limits = resourceLimits.map(\.cValue)
        attr.rlimit_count = Int32(limits.count)
        var failedStep = OPS_STEP_OTHER
        let code = groups.withUnsafeBufferPointer { list in
            limits.withUnsafeBufferPointer { rlimits in
                withUnsafeMutablePointer(to: &failedStep) { step in
                    attr.groups = list.baseAddress
                    attr.rlimits = rlimits.baseAddress
                    attr.failed_step = step
                    return ops_spawn(&attr, &pid)
                }
            }
        }
        guard code != 0 else { return nil }
        if failedStep == OPS_STEP_CGROUP, let cgroup { return .cgroup(cgroup.directory, code) }
        if failedStep >= 0, Int(failedStep) < resourceLimits.count {
            let limit = resourceLimits[Int(failedStep)]
            return .resourceLimit(limit, code, opsdHardLimit: limit.currentHardLimit)
        }
        return .system(code)
    }

    /// Closes the output and input descriptors the request hands over; the spawners call it once
    /// the child has its copies or the start has failed.
    func closeOutput() {
        if let output { close(output) }
        if let input { close(input) }
    }
}

/// A NULL-terminated `char *const *` that owns its strings.
private final class CStringArray {
    let pointer: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>
    private let count: Int

    init(_ strings: [String]) {
        count = strings.count
        pointer = .allocate(capacity: strings.count + 1)
        for (index, string) in strings.enumerated() { pointer[index] = strdup(string) }
        pointer[strings.count] = nil
    }

    deinit {
        for index in 0..<count { free(pointer[index]) }
        pointer.deallocate()
    }
}
