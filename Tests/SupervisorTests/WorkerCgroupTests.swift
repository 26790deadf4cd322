import Events
import Foundation
import Glibc
import OpsConfig
import ProcessControl
import Testing
@testable import Supervisor

/// Issue 16 items 1 and 2 through the supervisor, with real processes and a cgroup tree of plain
/// files in a temporary directory: the files opsd writes, and what it makes of `memory.events`,
/// `cpu.stat` and `memory.current`. (The kernel's own tree: SystemdTests, and
/// `CgroupEnforcementTests` where the controllers exist.)
@Suite("worker cgroups and rlimits through the supervisor")
struct WorkerCgroupTests {
    private func contents(_ path: String) -> String? { try? String(contentsOfFile: path, encoding: .utf8) }

    @Test("limits land in the worker's cgroup and its process; status reads the cgroup; an OOM kill is reported as such; a start again reuses the cgroup")
    func fakeTree() async throws {
        let directory = NSTemporaryDirectory() + "ops-cgroup-\(getpid())-\(UInt32.random(in: 0 ... .max))"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try "cpu memory pids".write(toFile: "\(directory)/cgroup.controllers", atomically: false, encoding: .utf8)
        let tree = try CgroupTree(directory: directory)

        var spec = WorkerSpec(name: "app", command: ["/bin/sleep", "1000"], restart: quickPolicy(.never))
        spec.limits.memory = 2 << 30
        spec.limits.cpuPercent = 50
        spec.limits.tasks = 64
        spec.limits.nofile = ResourceLimit(soft: 512, hard: 512)
        let sink = CollectingSink()
        let workers = Supervisor(
            specs: [spec], children: DirectSpawner(), useJournal: false, eventLoops: .singletonMultiThreadedEventLoopGroup,
            notifier: .init(environment: [:]), logger: .init(label: "opsd.test.cgroups"), events: sink, cgroups: .delegated(tree))
        try await workers.startAll()
        let cgroup = "\(directory)/workers/app"
        #expect(contents("\(cgroup)/memory.max") == "2147483648")
        #expect(contents("\(cgroup)/memory.high") == "max")
        #expect(contents("\(cgroup)/cpu.max") == "50000 100000")
        #expect(contents("\(cgroup)/pids.max") == "64")
        #expect(contents("\(cgroup)/cgroup.procs") == "0", "the child wrote 0 to join its cgroup")
        let pid = try #require(await workers.snapshot().first?.pid)
        let limits = try #require(contents("/proc/\(pid)/limits"))
        #expect(limits.split(separator: "\n").contains { $0.hasPrefix("Max open files") && $0.split(separator: " ").dropFirst(3).prefix(2) == ["512", "512"] }, "\(limits)")

        // Status: the whole cgroup's figures, not the main process's.
        try "usage_usec 7000000\nuser_usec 6000000\nsystem_usec 1000000\n".write(toFile: "\(cgroup)/cpu.stat", atomically: false, encoding: .utf8)
        try "4096\n".write(toFile: "\(cgroup)/memory.current", atomically: false, encoding: .utf8)
        let running = try #require(await workers.snapshot().first)
        #expect(running.cpuTime == .seconds(7))
        #expect(running.residentBytes == 4096)

        // The kernel counts an OOM kill in memory.events and the worker dies of SIGKILL.
        try "low 0\nhigh 0\nmax 12\noom 1\noom_kill 1\noom_group_kill 0\n".write(toFile: "\(cgroup)/memory.events", atomically: false, encoding: .utf8)
        try "untouched".write(toFile: "\(cgroup)/cpu.max", atomically: false, encoding: .utf8)
        kill(pid, SIGKILL)
        let exited = try await sink.next(.workerExited, "app")
        #expect(exited.fields["reason"] == "killed by the OOM killer (memory.max 2G)")
        #expect(exited.fields["signal"] == "9")
        #expect(exited.message == "worker app was killed by the OOM killer (memory.max 2G); its restart policy leaves it down", "\(exited.message)")
        #expect(contents("\(cgroup)/cgroup.kill") == "1", "what the worker left in its cgroup is killed with it")
        #expect(await workers.snapshot().first?.message == "killed by the OOM killer (memory.max 2G)", "status says why it is down")

        // Started again in the same cgroup, whose limits are not written again.
        try await workers.start("app")
        #expect(await workers.snapshot().first.map { $0.pid != nil && $0.pid != pid } == true)
        #expect(contents("\(cgroup)/cpu.max") == "untouched")
        await workers.stopAll()
        #expect(await workers.snapshot().first?.message == nil, "a stop is no OOM kill")
    }

    @Test("a status request reads a cgroup-less worker's figures from /proc, as before")
    func withoutCgroup() async throws {
        let sink = CollectingSink()
        let workers = supervisor([WorkerSpec(name: "plain", command: ["/bin/sleep", "1000"])], events: sink)
        try await workers.startAll()
        let snapshot = try #require(await workers.snapshot().first)
        #expect(snapshot.residentBytes != nil && snapshot.cpuTime != nil)
        await workers.stopAll()
    }
}
