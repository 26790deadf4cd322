import Foundation
import OpsAPI
import Testing
import TestSupport

// Issue 16 item 1: the kernel enforcing a worker's cgroup limits, under the shipped unit. It
// needs the memory and pids controllers in opsd's delegated cgroup v2 subtree. This machine's
// kernel runs them on cgroup v1 (the sandbox's v2 tree offers none), so here the test is
// cancelled with a note that says so; on a machine with a pure cgroup v2 host it runs.
extension SystemdServiceTests {
    /// opsd's cgroup in the sandbox: the unified hierarchy of a hybrid machine, or the only one.
    private func opsdCgroup() async throws -> String {
        let mount = try await Sandbox.shell("test -e /sys/fs/cgroup/unified/cgroup.controllers && echo /sys/fs/cgroup/unified || echo /sys/fs/cgroup")
        return mount.stdout.trimmingCharacters(in: .whitespacesAndNewlines) + "/system.slice/opsd.service"
    }

    @Test("where the controllers exist: a worker past memory.max is OOM-killed and reported as such; tasks stops a fork loop")
    func enforcement() async throws {
        try await Sandbox.install(config: """
            daemon:
              socket: /run/ops/opsd.sock
              state_dir: /var/lib/ops
            workers:
              - name: hog
                command: [/bin/sh, -c, "echo hog starts; head -c 400M /dev/zero | tail > /dev/null"]
                restart: {policy: never}
                limits: {memory: 64M}
              - name: forker
                command: [/bin/sh, -c, "for i in $(seq 64); do sleep 1000 & done; echo forker forked; exec sleep 1000"]
                restart: {policy: never}
                limits: {tasks: 16}
            """)
        let cursor = try await Sandbox.cursor()
        #expect(try await Sandbox.exec("systemctl", "start", "opsd.service").status == 0)
        defer { Task { _ = try? await Sandbox.exec("systemctl", "stop", "opsd.service") } }
        let cgroup = try await opsdCgroup()
        let controllers = try await Sandbox.exec("cat", "\(cgroup)/workers/cgroup.subtree_control").stdout
        guard controllers.contains("memory"), controllers.contains("pids") else {
            let note = "not run: opsd's delegated cgroup offers no memory and pids controllers here (cgroup.subtree_control: \"\(controllers.trimmingCharacters(in: .whitespacesAndNewlines))\"); this kernel runs them on cgroup v1"
            print("note: \(note)")
            _ = try await Sandbox.exec("systemctl", "stop", "opsd.service")
            try Test.cancel(Comment(rawValue: note))
        }
        try await Sandbox.waitForJournal("worker hog was killed by the OOM killer (memory.max 64M)", after: cursor)
        let exited = try await Sandbox.journal(after: cursor).first { $0["OPS_EVENT"] == "worker_exited" && $0["OPS_WORKER"] == "hog" }
        #expect(exited?["OPS_REASON"] == "killed by the OOM killer (memory.max 64M)", "\(String(describing: exited))")
        let status = try await Sandbox.exec("opsctl", "--config", "/etc/ops/ops.yaml", "status", "--json")
        let report = try WireJSON.decoder.decode(StatusReport.self, from: Data(status.stdout.utf8))
        #expect(report.workers.first { $0.name == "hog" }?.message == "killed by the OOM killer (memory.max 64M)")

        try await Sandbox.waitForJournal("forker forked", after: cursor)
        let pids = try await Sandbox.exec("cat", "\(cgroup)/workers/forker/pids.current")
        #expect((Int(pids.stdout.trimmingCharacters(in: .whitespacesAndNewlines)) ?? 99) <= 16, "\(pids.stdout)")
        let events = try await Sandbox.exec("cat", "\(cgroup)/workers/forker/pids.events")
        #expect(!events.stdout.contains("max 0"), "fork attempts past tasks: were refused: \(events.stdout)")
    }
}
