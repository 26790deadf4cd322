import Foundation
@testable import ProcessControl
import Testing
import TestSupport

/// Issue 16 item 1, against a cgroup tree of plain files in a temporary directory: what opsd
/// writes where, and what it reads back. (The real tree is tested under systemd: SystemdTests.)
@Suite("worker cgroups: a fake tree")
struct CgroupTreeTests {
    private func contents(_ path: String) -> String? { try? String(contentsOfFile: path, encoding: .utf8) }

    private func fakeTree(_ directory: String, controllers: String = "cpuset cpu io memory hugetlb pids rdma misc") throws {
        try controllers.write(toFile: "\(directory)/cgroup.controllers", atomically: false, encoding: .utf8)
        try "".write(toFile: "\(directory)/cgroup.procs", atomically: false, encoding: .utf8)
    }

    @Test("set-up moves opsd into <own>/opsd, enables memory, cpu and pids for <own>/workers; a worker's limits land in its files, max when taken out")
    func setUpAndLimits() async throws {
        try await withTemporaryDirectory { directory in
            try fakeTree(directory)
            let tree = try CgroupTree(directory: directory)
            #expect(tree.controllers == ["memory", "cpu", "pids"])
            #expect(contents("\(directory)/opsd/cgroup.procs") == "\(getpid())")
            #expect(FileManager.default.fileExists(atPath: "\(directory)/workers/cgroup.subtree_control"))

            let worker = try tree.worker("app")
            #expect(worker.directory == "\(directory)/workers/app")
            let applied = worker.apply(CgroupLimits(memoryMax: 2 << 30, memoryHigh: 1536 << 20, cpuPercent: 50, pidsMax: 512))
            #expect(applied.missing.isEmpty && applied.failed.isEmpty)
            #expect(contents("\(worker.directory)/memory.max") == "2147483648")
            #expect(contents("\(worker.directory)/memory.high") == "1610612736")
            #expect(contents("\(worker.directory)/cpu.max") == "50000 100000")
            #expect(contents("\(worker.directory)/pids.max") == "512")

            _ = worker.apply(CgroupLimits(cpuPercent: 200))
            #expect(contents("\(worker.directory)/memory.max") == "max")
            #expect(contents("\(worker.directory)/cpu.max") == "200000 100000")
            #expect(contents("\(worker.directory)/pids.max") == "max")
            // Unchanged limits are not written again (a restart costs no writes).
            try "untouched".write(toFile: "\(worker.directory)/cpu.max", atomically: false, encoding: .utf8)
            _ = worker.apply(CgroupLimits(cpuPercent: 200))
            #expect(contents("\(worker.directory)/cpu.max") == "untouched")
        }
    }

    @Test("a limit whose controller is missing is reported, not written; the others are")
    func missingController() async throws {
        try await withTemporaryDirectory { directory in
            try fakeTree(directory, controllers: "cpu io")
            let tree = try CgroupTree(directory: directory)
            #expect(tree.controllers == ["cpu"])
            let worker = try tree.worker("app")
            let applied = worker.apply(CgroupLimits(memoryMax: 1 << 30, memoryHigh: 1 << 29, cpuPercent: 50, pidsMax: 10))
            #expect(applied.missing == ["memory", "pids"])
            #expect(contents("\(worker.directory)/memory.max") == nil)
            #expect(contents("\(worker.directory)/cpu.max") == "50000 100000")
        }
    }

    @Test("the child writes 0 to its cgroup's cgroup.procs before it execs; OOM kills, usage and kill come from the cgroup's files")
    func childJoinsAndFilesAreRead() async throws {
        try await withTemporaryDirectory { directory in
            try fakeTree(directory)
            let tree = try CgroupTree(directory: directory)
            let worker = try tree.worker("app")
            var request = SpawnRequest(executable: "/bin/true", arguments: ["true"], environment: [:])
            request.cgroup = worker
            #expect(try await runToEnd(request, in: directory).status == .exited(0))
            #expect(contents("\(worker.directory)/cgroup.procs") == "0")

            #expect(worker.newOOMKills() == 0)
            try "low 0\nhigh 0\nmax 3\noom 1\noom_kill 1\noom_group_kill 0\n".write(toFile: "\(worker.directory)/memory.events", atomically: false, encoding: .utf8)
            #expect(worker.newOOMKills() == 1)
            #expect(worker.newOOMKills() == 0)

            try "usage_usec 2500000\nuser_usec 2000000\nsystem_usec 500000\n".write(toFile: "\(worker.directory)/cpu.stat", atomically: false, encoding: .utf8)
            try "1048576\n".write(toFile: "\(worker.directory)/memory.current", atomically: false, encoding: .utf8)
            #expect(worker.usage() == CgroupUsage(cpuTime: .milliseconds(2500), memoryBytes: 1 << 20))

            worker.kill()
            #expect(contents("\(worker.directory)/cgroup.kill") == "1")
            // A cgroup reused across opsd restarts starts counting from what it had seen.
            let again = try tree.worker("app")
            #expect(again.newOOMKills() == 0)
        }
    }

    @Test("delegation: no cgroup v2, the root cgroup and a cgroup not handed to opsd each say why, once, in one sentence")
    func detection() async throws {
        try await withTemporaryDirectory { directory in
            let selfFile = "\(directory)/self-cgroup"
            try "0::/system.slice/opsd.service\n".write(toFile: selfFile, atomically: false, encoding: .utf8)
            guard case .unavailable(let none) = CgroupTree.detect(mountPoint: "\(directory)/mnt", selfCgroup: selfFile) else {
                Issue.record("a machine without cgroup v2 was taken as delegated"); return
            }
            #expect(none == "this machine has no cgroup v2 hierarchy at \(directory)/mnt or \(directory)/mnt/unified")

            try FileManager.default.createDirectory(atPath: "\(directory)/mnt/unified/system.slice/opsd.service", withIntermediateDirectories: true)
            try "memory pids".write(toFile: "\(directory)/mnt/unified/cgroup.controllers", atomically: false, encoding: .utf8)
            try "0::/\n".write(toFile: selfFile, atomically: false, encoding: .utf8)
            guard case .unavailable(let root) = CgroupTree.detect(mountPoint: "\(directory)/mnt", selfCgroup: selfFile) else {
                Issue.record("the root cgroup was taken as delegated"); return
            }
            #expect(root == "opsd runs in the root cgroup, not in a cgroup of its own; run opsd under systemd with Delegate=yes, as deploy/systemd/opsd.service does")

            // Root may write any cgroup, so for root only systemd's delegate mark counts; another
            // user's must be owned by it. A plain directory has neither.
            try "1:name=systemd:/x\n0::/system.slice/opsd.service\n".write(toFile: selfFile, atomically: false, encoding: .utf8)
            if geteuid() == 0 {
                guard case .unavailable(let plain) = CgroupTree.detect(mountPoint: "\(directory)/mnt", selfCgroup: selfFile) else {
                    Issue.record("a cgroup without systemd's delegate mark was taken as delegated"); return
                }
                #expect(plain == "opsd's cgroup /system.slice/opsd.service is not delegated to it; run opsd under systemd with Delegate=yes, as deploy/systemd/opsd.service does")
            }
        }
    }
}

/// The kernel's own cgroup v2 tree, where this process may write it (root on a machine with
/// cgroup v2 mounted): a scratch cgroup, removed afterwards.
@Suite("worker cgroups: the kernel's tree")
struct RealCgroupTests {
    static let hierarchy = ["/sys/fs/cgroup", "/sys/fs/cgroup/unified"].first { access("\($0)/cgroup.controllers", F_OK) == 0 }

    @Test("a child is born in (or moved into) its worker's cgroup before it execs", .enabled(if: geteuid() == 0 && hierarchy.map { access($0, W_OK) == 0 } == true, "needs root and a writable cgroup v2 hierarchy"))
    func childRunsInItsCgroup() async throws {
        let hierarchy = try #require(Self.hierarchy)
        let own = String((try String(contentsOfFile: "/proc/self/cgroup", encoding: .utf8)).split(separator: "\n").first { $0.hasPrefix("0::") }?.dropFirst(3) ?? "/")
        let name = "opsd-test-\(getpid())-\(UInt32.random(in: 0 ... .max))"
        let directory = "\(hierarchy)\(own == "/" ? "" : own)/\(name)"
        let worker = try WorkerCgroup(directory: directory, controllers: [])
        defer { rmdir(directory) }
        try await withTemporaryDirectory { scratch in
            var request = SpawnRequest(executable: "/bin/cat", arguments: ["cat", "/proc/self/cgroup"], environment: [:])
            request.cgroup = worker
            let (status, output) = try await runToEnd(request, in: scratch)
            #expect(status == .exited(0))
            #expect(output.split(separator: "\n").contains { $0 == "0::\(own == "/" ? "" : own)/\(name)" }, "\(output)")
        }
    }
}
