import Foundation
import Testing
import TestSupport

/// The voluntary context switches of every thread of `pid`: each is one time a thread slept and
/// was woken. Threads that end take their counts along, so this is a lower bound.
func wakeups(of pid: Int32) throws -> Int {
    let tasks = try FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/task")
    return tasks.reduce(0) { total, task in
        let status = (try? String(contentsOfFile: "/proc/\(pid)/task/\(task)/status", encoding: .utf8)) ?? ""
        let line = status.split(separator: "\n").first { $0.hasPrefix("voluntary_ctxt_switches:") }
        return total + (line.flatMap { Int($0.split(separator: "\t").last ?? "") } ?? 0)
    }
}

@Suite("An idle opsd does not wake up")
struct IdleTests {
    @Test("after its checks, a job, status and a reload have run, opsd sleeps until something is due")
    func noWakeupsWhenNothingIsDue() async throws {
        let scratch = try Scratch()
        let port = try freePort()
        // The http check asks opsd's own /healthz, by name: resolving a name and a TLS-less
        // connection are the paths that would start libdispatch (NIO's resolver uses it).
        let config = try scratch.config(extra: """
              listen: 127.0.0.1:\(port)
            workers:
              - {name: a, command: [/bin/sleep, "1000"]}
              - {name: b, command: [/bin/sleep, "1000"]}
            checks:
              - {name: root, disk: /, crit: "100%", every: 1h}
              - {name: plugin, command: [/bin/true], every: 1h}
              - {name: self, http: "http://localhost:\(port)/healthz", expect: {status: [200, 503]}, every: 1h}
            jobs:
              - {name: hello, command: [/bin/echo, hi], every: 1h}
            alerts:
              - {exec: [/bin/true], repeat: 1m}
              - {webhook: "http://127.0.0.1:9/hook", format: slack, on: [worker_fatal, check_crit]}
            """)
        let daemon = try await Daemon(config: config, scratch: scratch)
        // Every path that used to start libdispatch's pool (and its 1 Hz monitor) runs once:
        // a timed first check run, a plugin's exit wait, history writes, a job, a signal.
        for check in ["root", "plugin", "self"] {
            _ = try await daemon.logStream.first { $0.message == "check state changed" && $0.fields["check"] == check }
        }
        let job = try await run("opsctl", ["--config", config, "jobs", "run", "hello"])
        #expect(job.status == 0, "\(job.stderr)")
        let status = try await run("opsctl", ["--config", config, "status"])
        #expect(status.status == 0)
        // A scrape computes /metrics, and a browser's visit the status page, on demand and leaves
        // nothing running after it.
        let scrape = try await run("/usr/bin/curl", ["-sf", "-o", "/dev/null", "http://127.0.0.1:\(port)/metrics", "-o", "/dev/null", "http://127.0.0.1:\(port)/"])
        #expect(scrape.status == 0)
        daemon.signal(SIGHUP)
        _ = try await daemon.logStream.first { $0.message == "configuration reloaded" }

        // Nothing is due for an hour: a window of 3 s must pass without a single wakeup
        // (libdispatch's monitor alone would wake it 3 times in every window; supervisord too).
        // The tail of the work above (a connection's close, a task finishing) may still land in
        // the first window, so up to three windows are measured and one must be silent.
        var woken: [Int] = []
        for _ in 0..<3 where woken.last != 0 {
            let before = try wakeups(of: daemon.pid)
            try await Task.sleep(for: .seconds(3))
            woken.append(try wakeups(of: daemon.pid) - before)
        }
        #expect(woken.last == 0, "wakeups per 3 s window with nothing due: \(woken)")

        daemon.signal(SIGTERM)
        #expect(await daemon.exitStatus() == 0)
    }
}
