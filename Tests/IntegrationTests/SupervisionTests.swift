import ControlPlane
import CTestSupport
import Foundation
import OpsAPI
import Testing
import TestSupport

/// A notify-speaking worker, as a real program: python3 talks to NOTIFY_SOCKET like a service would.
let notifyWorker = #"""
import os, socket, sys, time
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
address = os.environ["NOTIFY_SOCKET"]
address = "\0" + address[1:] if address.startswith("@") else address  # '@': the abstract namespace
send = lambda m: s.sendto(m.encode(), address)
mode = sys.argv[1]
if mode != "never-ready":
    send("READY=1\nSTATUS=serving requests")
pings = {"healthy": 10**9, "hang": 3, "never-ready": 0}[mode]
for _ in range(pings):
    send("WATCHDOG=1")
    time.sleep(0.1)
time.sleep(1000)
"""#

func workers(_ config: String) async throws -> [WorkerStatus] {
    let result = try await run("opsctl", ["status", "--json", "--config", config])
    // 3: a worker that should run does not (the status is printed all the same).
    guard result.status == 0 || result.status == 3 else { throw TestFailure("opsctl status failed: \(result.stderr)") }
    return try WireJSON.decoder.decode(StatusReport.self, from: Data(result.stdout.utf8)).workers
}

func worker(_ name: String, _ config: String) async throws -> WorkerStatus {
    guard let found = try await workers(config).first(where: { $0.name == name }) else { throw TestFailure("no worker \(name)") }
    return found
}

/// Waits for a process that is not our child to end, through a pidfd (an event, not a poll of /proc).
func waitForExit(of pid: Int32, limit: Int32 = 20_000) async -> Bool {
    await onNewThread {
        let fd = ops_pidfd_open(pid)
        guard fd >= 0 else { return errno == ESRCH }
        defer { close(fd) }
        var poller = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        return poll(&poller, 1, limit) == 1
    }
}

func started(_ name: String) -> @Sendable (LogLine) -> Bool {
    { $0.message == "worker started" && $0.fields["worker"] == name }
}

@Suite("Supervision with real processes")
struct SupervisionTests {
    @Test("systemd's STATUS= follows each worker change, sent without blocking the supervisor")
    func statusFollowsWorkers() async throws {
        let scratch = try Scratch()
        let config = try scratch.config(extra: """
            workers:
              - {name: web, command: [/bin/sleep, "1000"]}
            """)
        // READY=1 carries the first full line; every later change follows on its own.
        let daemon = try await Daemon(config: config, scratch: scratch)
        let stop = try await run("opsctl", ["workers", "stop", "web", "--config", config])
        #expect(stop.status == 0)
        _ = try await daemon.notify.next { $0.contains("STATUS=Running: 0/1 workers running, 0 checks, no backup") }
        let start = try await run("opsctl", ["workers", "start", "web", "--config", config])
        #expect(start.status == 0)
        _ = try await daemon.notify.next { $0.contains("STATUS=Running: 1/1 workers running") }
        daemon.signal(SIGTERM)
        _ = await daemon.exitStatus()
        // After STOPPING=1 the line stays "Stopping" while the workers go.
        let rest = daemon.notify.drain()
        let afterStopping = rest.drop { !$0.hasPrefix("STOPPING=1") }
        #expect(afterStopping.first?.hasPrefix("STOPPING=1") == true)
        #expect(!afterStopping.dropFirst().contains { $0.hasPrefix("STATUS=") }, "\(rest)")
    }

    @Test("a crashed worker is restarted at once; a clean exit under on-failure is left alone")
    func crashAndCleanExit() async throws {
        let scratch = try Scratch()
        let config = try scratch.config(extra: """
            workers:
              - {name: web, command: [/bin/sleep, "1000"], restart: {policy: on-failure}}
              - {name: once, command: [/bin/sh, -c, "exit 0"], restart: {policy: on-failure}}
            """)
        let daemon = try await Daemon(config: config, scratch: scratch)
        let once = try await daemon.logStream.first { $0.message == "worker exited" && $0.fields["worker"] == "once" }
        #expect(once.fields["exit"] == "exit 0")
        #expect(try await worker("once", config).state == .exited)

        let before = try await worker("web", config)
        let pid = try #require(before.pid)
        let mark = daemon.logStream.count
        kill(pid, SIGKILL)
        let restarted = try await daemon.logStream.first(after: mark, where: started("web"))
        let after = try await worker("web", config)
        #expect(restarted.fields["pid"] == after.pid.map(String.init))
        #expect(after.pid != pid)
        #expect(after.restarts == 1)
        #expect(after.lastExit == .signaled(9))
        #expect(try await worker("once", config).restarts == 0)
    }

    @Test("a crash loop backs off with growing delays, turns fatal, and opsctl workers start revives it")
    func crashLoop() async throws {
        let scratch = try Scratch()
        let config = try scratch.config(extra: """
            workers:
              - {name: loop, command: [/bin/sh, -c, "exit 1"], restart: {policy: always, backoff: 50ms..1s, burst: 5 in 60s}}
            """)
        let daemon = try await Daemon(config: config, scratch: scratch)
        _ = try await daemon.logStream.first { $0.message.hasPrefix("worker is fatal") && $0.fields["worker"] == "loop" }
        let delays = daemon.logStream.lines.filter { $0.message == "worker restarts after a delay" }.compactMap { $0.fields["delay"] }
        #expect(delays == ["50ms", "100ms", "200ms"])
        let fatal = try await worker("loop", config)
        #expect(fatal.state == .fatal)
        #expect(fatal.message?.contains("opsctl workers start loop") == true)

        let mark = daemon.logStream.count
        let revived = try await run("opsctl", ["workers", "start", "loop", "--config", config])
        // Started again, and the start is reported for what it is (the command still fails).
        #expect(revived.status == 1)
        #expect(revived.stderr == "opsctl: loop did not reach running: exited at start with status 1\n", "\(revived.stderr)")
        _ = try await daemon.logStream.first(after: mark, where: started("loop"))
        let unknown = try await run("opsctl", ["workers", "start", "nope", "--config", config])
        #expect(unknown.status == 1)
        #expect(unknown.stderr == "opsctl: no worker is named \"nope\"; configured workers: loop\n")
    }

    @Test("notify workers: READY=1 makes them running; no READY=1 times out; a hung one is aborted and restarted")
    func notifyWorkers() async throws {
        let scratch = try Scratch()
        let script = try scratch.write("worker.py", notifyWorker)
        let config = try scratch.config(extra: """
            workers:
              # Pings every 100 ms; 5 s of room, since a loaded CI machine has stalled a python
              # process for more than a second.
              - {name: ok, command: [python3, \(script), healthy], notify: true, watchdog: 5s}
              - {name: mute, command: [python3, \(script), never-ready], notify: true, start_timeout: 500ms, stop: {timeout: 1s}}
              - {name: hangs, command: [python3, \(script), hang], notify: true, watchdog: 600ms, stop: {timeout: 1s}}
            """)
        let daemon = try await Daemon(config: config, scratch: scratch)
        _ = try await daemon.logStream.first { $0.message == "worker is ready" && $0.fields["worker"] == "ok" }
        let ok = try await worker("ok", config)
        #expect(ok.state == .running)
        #expect(ok.statusText == "serving requests")

        _ = try await daemon.logStream.first { $0.message.hasPrefix("worker did not send READY=1") && $0.fields["worker"] == "mute" }
        let hung = try await daemon.logStream.first { $0.message.hasPrefix("worker is hung") && $0.fields["worker"] == "hangs" }
        #expect(hung.level == "error")
        let aborted = try await daemon.logStream.first { $0.message == "worker exited" && $0.fields["worker"] == "hangs" }
        #expect(aborted.fields["exit"] == "signal 6 (ABRT)")
        // Restarted after the abort: its second start. (Not "a start after now": on a loaded
        // machine the restarts may have run into the burst limit by the time this line runs.)
        _ = try await daemon.logStream.nth(2, where: started("hangs"))
        // The healthy one kept pinging all along and was never touched.
        #expect(try await worker("ok", config).restarts == 0)
    }

    @Test("a worker's background grandchild does not survive the worker's stop")
    func grandchildGoesWithWorker() async throws {
        let scratch = try Scratch()
        let config = try scratch.config(extra: """
            workers:
              - {name: forker, command: [/bin/sh, -c, "sleep 1000 & echo grandchild $!; wait"]}
            """)
        let daemon = try await Daemon(config: config, scratch: scratch)
        let line = try await daemon.logStream.first { $0.fields["worker"] == "forker" && $0.message.hasPrefix("grandchild ") }
        let grandchild = try #require(Int32(line.message.dropFirst("grandchild ".count)))
        let leader = try #require(try await worker("forker", config).pid)
        let stop = try await run("opsctl", ["workers", "stop", "forker", "--config", config])
        #expect(stop.status == 0)
        #expect(stop.stdout == "forker: stopped\n")
        #expect(await waitForExit(of: leader))
        #expect(await waitForExit(of: grandchild))
    }

    @Test("200 crash/restart cycles leave no zombie behind")
    func noZombies() async throws {
        let scratch = try Scratch()
        let config = try scratch.config(extra: """
            workers:
              - {name: flappy, command: [/bin/sh, -c, "sleep 1000 & exit 1"], restart: {policy: always, backoff: 1ms..1ms, burst: 1000 in 60s}}
            """)
        let daemon = try await Daemon(config: config, scratch: scratch)
        _ = try await daemon.logStream.nth(201, limit: .seconds(120), where: started("flappy"))
        _ = try await run("opsctl", ["workers", "stop", "flappy", "--config", config])
        #expect(try await worker("flappy", config).restarts >= 200)
        // Reaping is the reaper thread's asynchronous work; give it a bounded moment to finish.
        var zombies: [String] = []
        for _ in 0..<100 {
            zombies = Self.zombieChildren(of: daemon.pid)
            if zombies.isEmpty { break }
            try await Task.sleep(for: .milliseconds(50))
        }
        #expect(zombies.isEmpty, "zombie children of opsd: \(zombies)")
    }

    static func zombieChildren(of parent: Int32) -> [String] {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        return entries.compactMap { entry -> String? in
            guard Int32(entry) != nil, let stat = try? String(contentsOfFile: "/proc/\(entry)/stat", encoding: .utf8),
                  let close = stat.lastIndex(of: ")") else { return nil }
            let fields = stat[stat.index(after: close)...].split(separator: " ")
            guard fields.count > 2, fields[0] == "Z", Int32(fields[1]) == parent else { return nil }
            return entry
        }
    }

    @Test("opsd killed with SIGKILL takes its workers with it, also one that runs as another user")
    func parentDeath() async throws {
        let scratch = try Scratch()
        // The kernel clears a parent-death signal when a process changes its credentials, so a
        // worker with `user:` is the case that once slipped through. Switching users needs root
        // (which `make test` has).
        let asRoot = getuid() == 0
        let config = try scratch.config(extra: """
            workers:
              - {name: a, command: [/bin/sleep, "1000"]}
              - {name: b, command: [/bin/sleep, "1001"]}
            """ + (asRoot ? "\n  - {name: c, command: [/bin/sleep, \"1002\"], user: nobody}" : ""))
        let daemon = try await Daemon(config: config, scratch: scratch)
        let pids = try await workers(config).compactMap(\.pid)
        #expect(pids.count == (asRoot ? 3 : 2))
        daemon.signal(SIGKILL)
        for pid in pids { #expect(await waitForExit(of: pid), "worker \(pid) outlived opsd") }
    }

    @Test("a reload that changes one worker restarts only that one")
    func reloadTouchesOnlyChanged() async throws {
        let scratch = try Scratch()
        let config = try scratch.config(extra: """
            workers:
              - {name: keep, command: [/bin/sleep, "1000"]}
              - {name: change, command: [/bin/sleep, "1000"]}
            """)
        let daemon = try await Daemon(config: config, scratch: scratch)
        defer { withExtendedLifetime(daemon) {} }
        let before = try await workers(config)
        _ = try scratch.config(extra: """
            workers:
              - {name: keep, command: [/bin/sleep, "1000"]}
              - {name: change, command: [/bin/sleep, "2000"]}
              - {name: added, command: [/bin/sleep, "3000"]}
            """)
        let reload = try await run("opsctl", ["reload", "--config", config])
        #expect(reload.status == 0, "\(reload.stderr)")
        let after = try await workers(config)
        #expect(after.map(\.name) == ["keep", "change", "added"])
        #expect(after[0].pid == before[0].pid)
        #expect(after[1].pid != before[1].pid)
        #expect(after[1].command == ["/bin/sleep", "2000"])
        #expect(after[2].state == .running)
    }

    @Test("user, group, umask, cwd and environment reach the worker", .enabled(if: getuid() == 0, "switching users needs root"))
    func surroundings() async throws {
        let scratch = try Scratch()
        let config = try scratch.config(extra: """
            workers:
              - name: who
                command: [/bin/sh, -c, "echo uid=$(id -u) gid=$(id -g) umask=$(umask) cwd=$(pwd) greeting=$GREETING notify=${NOTIFY_SOCKET:-none}; exec sleep 1000"]
                user: nobody
                group: nogroup
                umask: "0027"
                cwd: /tmp
                environment: {GREETING: hello}
            """)
        let daemon = try await Daemon(config: config, scratch: scratch)
        let line = try await daemon.logStream.first { $0.fields["worker"] == "who" && $0.message.hasPrefix("uid=") }
        // Not a notify worker: opsd's own NOTIFY_SOCKET (from the test, like systemd's) is not passed on.
        #expect(line.message == "uid=65534 gid=65534 umask=0027 cwd=/tmp greeting=hello notify=none")
    }

    @Test("a worker inherits no descriptor of opsd's, not even one opened while it is spawned")
    func noLeakedDescriptors() async throws {
        let scratch = try Scratch()
        let script = try scratch.write("fds.py", """
            import os, time
            sockets = []
            for fd in os.listdir("/proc/self/fd"):
                try:
                    if os.readlink(f"/proc/self/fd/{fd}").startswith("socket:"):
                        sockets.append(fd)
                except OSError:
                    pass  # listdir's own descriptor, closed by now
            print("sockets:", sorted(sockets), flush=True)
            time.sleep(1000)
            """)
        let config = try scratch.config()
        let daemon = try await Daemon(config: config, scratch: scratch)
        // Added by a reload, the worker is spawned while opsctl's control connection is open in opsd.
        _ = try scratch.config(extra: "workers:\n  - {name: fds, command: [python3, \(script)]}\n")
        let reload = try await run("opsctl", ["reload", "--config", config])
        #expect(reload.status == 0, "\(reload.stderr)")
        let line = try await daemon.logStream.first { $0.fields["worker"] == "fds" && $0.message.hasPrefix("sockets:") }
        #expect(line.message == "sockets: []")
    }

    @Test("on shutdown, workers stop in reverse start order")
    func reverseStopOrder() async throws {
        let scratch = try Scratch()
        let config = try scratch.config(extra: """
            workers:
              - {name: first, command: [/bin/sleep, "1000"]}
              - {name: second, command: [/bin/sleep, "1000"]}
              - {name: third, command: [/bin/sleep, "1000"]}
            """)
        let daemon = try await Daemon(config: config, scratch: scratch)
        daemon.signal(SIGTERM)
        #expect(await daemon.exitStatus() == 0)
        let stopped = daemon.logStream.lines.filter { $0.message == "worker stopped" }.compactMap { $0.fields["worker"] }
        #expect(stopped == ["third", "second", "first"])
    }

    @Test("opsd raises its own open-file limit, and its workers get the limit it started with")
    func workersKeepTheUsualDescriptorLimit() async throws {
        let scratch = try Scratch()
        let config = try scratch.config(extra: """
            workers:
              - {name: w, command: [/bin/sleep, "1000"]}
            """)
        // 1024 is the usual soft limit, which select(2)-based programs rely on; opsd raises its own.
        let daemon = try await PrefixedDaemon(["/usr/bin/prlimit", "--nofile=1024:4096"], config: config, scratch: scratch)
        // The status shows the pid once the worker has exec'd, so its limit is in place by then.
        let pid = try #require(try await worker("w", config).pid)
        func softLimit(_ pid: Int32) throws -> String? {
            let limits = try String(contentsOfFile: "/proc/\(pid)/limits", encoding: .utf8)
            let line = limits.split(separator: "\n").first { $0.hasPrefix("Max open files") }
            return line?.split(separator: " ", omittingEmptySubsequences: true).dropFirst(3).first.map(String.init)
        }
        #expect(try softLimit(daemon.pid) == "4096")
        #expect(try softLimit(pid) == "1024")
        await daemon.stop()
    }
}
