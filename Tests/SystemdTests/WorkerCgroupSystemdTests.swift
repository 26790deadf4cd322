import Foundation
import OpsAPI
import Testing
import TestSupport

// Issue 16 item 1 under the real systemd 252 of the sandbox, with the shipped unit (Delegate=yes).
// This machine's kernel runs memory, cpu and pids on cgroup v1, so the sandbox's cgroup v2 tree
// has no controllers: these tests cover delegation, cgroup.kill and cpu.stat; the limits
// themselves are `CgroupEnforcementTests` (where the controllers exist) and `WorkerCgroupTests`
// (a tree of plain files). In SystemdServiceTests (an extension) so they run serialized with
// the other sandbox tests.
extension SystemdServiceTests {
    static let cgroupConfig = """
        daemon:
          socket: /run/ops/opsd.sock
          state_dir: /var/lib/ops
        workers:
          - name: escaper
            command: [/bin/sh, -c, "setsid sleep 1001 & echo escaper started its grandchild; exec sleep 1000"]
            restart: {policy: never}
          - name: burner
            command: [/bin/sh, -c, "timeout 1 sh -c 'while :; do :; done'; echo burner burned; exec sleep 1000"]
            restart: {policy: never}
        """

    static let workerCgroup = "/sys/fs/cgroup/unified/system.slice/opsd.service/workers"

    /// Waits (bounded) until no process of the sandbox runs `sleep 1001`: cgroup.kill signals at
    /// once, but a killed process leaves the process table a moment later.
    private func grandchildGone() async throws -> Bool {
        try await Sandbox.shell("for i in $(seq 100); do pgrep -f '^sleep 1001$' >/dev/null || exit 0; sleep 0.05; done; exit 1").status == 0
    }

    @Test("under Delegate=yes a worker's setsid grandchild leaves nothing behind after workers stop and after a crash")
    func setsidGrandchildDies() async throws {
        try await Sandbox.install(config: Self.cgroupConfig)
        var cursor = try await Sandbox.cursor()
        #expect(try await Sandbox.exec("systemctl", "start", "opsd.service").status == 0)
        try await Sandbox.waitForJournal("escaper started its grandchild", after: cursor)
        // opsd sits in a leaf of its cgroup, the worker and its grandchild in the worker's.
        let opsdCgroup = try await Sandbox.shell("grep ^0:: /proc/$(systemctl show -p MainPID --value opsd.service)/cgroup")
        #expect(opsdCgroup.stdout == "0::/system.slice/opsd.service/opsd\n")
        let members = try await Sandbox.exec("cat", "\(Self.workerCgroup)/escaper/cgroup.procs")
        #expect(members.stdout.split(separator: "\n").count == 2, "\(members.stdout)")
        let sessions = try await Sandbox.shell("ps -o sid= -C sleep | sort -u | wc -l")
        #expect(sessions.stdout.trimmingCharacters(in: .whitespacesAndNewlines) != "1", "the grandchild has a session of its own")

        let stop = try await Sandbox.exec("opsctl", "--config", "/etc/ops/ops.yaml", "workers", "stop", "escaper")
        #expect(stop.status == 0, "\(stop.stderr)")
        #expect(try await grandchildGone(), "a setsid grandchild survived workers stop")

        cursor = try await Sandbox.cursor()
        #expect(try await Sandbox.exec("opsctl", "--config", "/etc/ops/ops.yaml", "workers", "start", "escaper").status == 0)
        try await Sandbox.waitForJournal("escaper started its grandchild", after: cursor)
        let status = try await Sandbox.exec("opsctl", "--config", "/etc/ops/ops.yaml", "status", "--json")
        let report = try WireJSON.decoder.decode(StatusReport.self, from: Data(status.stdout.utf8))
        let pid = try #require(report.workers.first { $0.name == "escaper" }?.pid)
        cursor = try await Sandbox.cursor()
        #expect(try await Sandbox.exec("kill", "-KILL", "\(pid)").status == 0)
        try await Sandbox.waitForJournal("worker escaper exited with", after: cursor)
        #expect(try await grandchildGone(), "a setsid grandchild survived its worker's crash")

        // A reload that drops the worker removes its cgroup too, before the reload answers.
        cursor = try await Sandbox.cursor()
        #expect(try await Sandbox.exec("opsctl", "--config", "/etc/ops/ops.yaml", "workers", "start", "escaper").status == 0)
        try await Sandbox.waitForJournal("escaper started its grandchild", after: cursor)
        try await Sandbox.install(config: """
            daemon:
              socket: /run/ops/opsd.sock
              state_dir: /var/lib/ops
            workers:
              - name: burner
                command: [/bin/sh, -c, "timeout 1 sh -c 'while :; do :; done'; echo burner burned; exec sleep 1000"]
                restart: {policy: never}
            """)
        let reload = try await Sandbox.exec("opsctl", "--config", "/etc/ops/ops.yaml", "reload")
        #expect(reload.status == 0, "\(reload.stdout) \(reload.stderr)")
        let left = try await Sandbox.shell("test -e \(Self.workerCgroup)/escaper && cat \(Self.workerCgroup)/escaper/cgroup.procs; ls \(Self.workerCgroup)")
        #expect(!left.stdout.split(separator: "\n").contains("escaper"), "the dropped worker's cgroup is still there: \(left.stdout)")
        #expect(try await grandchildGone(), "a setsid grandchild survived its worker's removal")
        _ = try await Sandbox.exec("systemctl", "stop", "opsd.service")
    }

    @Test("under Delegate=yes a worker's CPU time in status is its cgroup's: a child's work counts")
    func cpuFromCgroup() async throws {
        try await Sandbox.install(config: Self.cgroupConfig)
        let cursor = try await Sandbox.cursor()
        #expect(try await Sandbox.exec("systemctl", "start", "opsd.service").status == 0)
        try await Sandbox.waitForJournal("burner burned", after: cursor)
        let status = try await Sandbox.exec("opsctl", "--config", "/etc/ops/ops.yaml", "status", "--json")
        let report = try WireJSON.decoder.decode(StatusReport.self, from: Data(status.stdout.utf8))
        let burner = try #require(report.workers.first { $0.name == "burner" })
        // The main process (now sleep) used next to nothing; its child spun for a second.
        #expect((burner.cpuSeconds ?? 0) >= 0.5, "cpu seconds \(String(describing: burner.cpuSeconds)); the main process's own would be ~0")
        let stat = try await Sandbox.exec("cat", "\(Self.workerCgroup)/burner/cpu.stat")
        #expect(stat.stdout.hasPrefix("usage_usec "), "\(stat.stdout)")
        _ = try await Sandbox.exec("systemctl", "stop", "opsd.service")
    }

    @Test("without delegation (a drop-in with Delegate=no) opsd says once that cgroup limits are not applied and why")
    func limitsNotAppliedMessage() async throws {
        try await Sandbox.install(config: """
            daemon:
              socket: /run/ops/opsd.sock
              state_dir: /var/lib/ops
            workers:
              - {name: app, command: [/bin/sleep, "1000"], limits: {memory: 1G, cpu: 50%, nofile: 1024}}
              - {name: other, command: [/bin/sleep, "1000"], limits: {tasks: 64}}
            """)
        try await Sandbox.copy(text: "[Service]\nDelegate=no\n", to: "/etc/systemd/system/opsd.service.d/no-delegate.conf")
        _ = try await Sandbox.exec("systemctl", "daemon-reload")
        defer { Task { _ = try? await Sandbox.shell("rm -f /etc/systemd/system/opsd.service.d/no-delegate.conf && systemctl daemon-reload") } }
        let cursor = try await Sandbox.cursor()
        #expect(try await Sandbox.exec("systemctl", "start", "opsd.service").status == 0)
        let messages = try await Sandbox.journal(after: cursor, match: "SYSLOG_IDENTIFIER=opsd").compactMap { $0["MESSAGE"] }
        let notApplied = messages.filter { $0.hasPrefix("cgroup limits are not applied") }
        #expect(notApplied == [
            "cgroup limits are not applied: opsd's cgroup /system.slice/opsd.service is not delegated to it; run opsd under systemd with Delegate=yes, as deploy/systemd/opsd.service does. Workers with limits: app (memory, cpu); other (tasks). Process groups remain the fallback, and rlimits apply",
        ], "\(messages)")
        #expect(try await Sandbox.property("ActiveState") == "active")
        _ = try await Sandbox.exec("systemctl", "stop", "opsd.service")
        _ = try await Sandbox.shell("rm -f /etc/systemd/system/opsd.service.d/no-delegate.conf && systemctl daemon-reload")
    }
}

extension SystemdServiceTests {
    @Test("under the unprivileged unit a worker gets its rlimits up to opsd's own; nofile 65536 above LimitNOFILE=8192 is a start failure that says so")
    func rlimitsUnderTheUnit() async throws {
        try await Sandbox.install(config: """
            daemon:
              socket: /run/ops/opsd.sock
              state_dir: /var/lib/ops
            workers:
              - {name: limited, command: [/bin/sleep, "1000"], limits: {nofile: 8192, core: 0, nproc: "512:1024"}}
              - {name: greedy, command: [/bin/sleep, "1000"], restart: {policy: never}, limits: {nofile: 65536}}
            """)
        #expect(try await Sandbox.exec("systemctl", "start", "opsd.service").status == 0)
        let start = try await Sandbox.exec("opsctl", "--config", "/etc/ops/ops.yaml", "workers", "start", "greedy")
        #expect(start.status == 1)
        let status = try await Sandbox.exec("opsctl", "--config", "/etc/ops/ops.yaml", "status", "--json")
        let report = try WireJSON.decoder.decode(StatusReport.self, from: Data(status.stdout.utf8))
        #expect(report.workers.first { $0.name == "greedy" }?.message
            == "cannot start /bin/sleep: limits: nofile 65536 is above opsd's own hard limit (8192), which opsd may not raise; lower it, or raise opsd's (LimitNOFILE= in its unit)")
        let pid = try #require(report.workers.first { $0.name == "limited" }?.pid)
        let limits = try await Sandbox.exec("cat", "/proc/\(pid)/limits").stdout.split(separator: "\n")
        let row = { (name: String) in limits.first { $0.hasPrefix(name) }.map { $0.dropFirst(26).split(separator: " ").prefix(2).map(String.init) } }
        #expect(row("Max open files") == ["8192", "8192"])
        #expect(row("Max core file size") == ["0", "0"])
        #expect(row("Max processes") == ["512", "1024"])
        _ = try await Sandbox.exec("systemctl", "stop", "opsd.service")
    }
}
