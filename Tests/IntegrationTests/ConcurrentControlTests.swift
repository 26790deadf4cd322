import ControlPlane
import Foundation
import OpsAPI
import Testing
import TestSupport

/// Control requests that arrive at once, as two operators, a deploy script, a check's `restart:`
/// and a restore can send them: a worker never has more than one process.
///
/// The worker writes its pid to a file before it execs, so the test counts the processes that
/// really run, not the ones opsd knows of.
@Suite("Concurrent control requests")
struct ConcurrentControlTests {
    /// The worker's pids that still run `sleep 7777` (not zombies, not a reused pid).
    static func running(_ pidFile: String) -> Set<Int32> {
        let text = (try? String(contentsOfFile: pidFile, encoding: .utf8)) ?? ""
        return Set(text.split(separator: "\n").compactMap { Int32($0) }.filter { pid in
            guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
                  let close = stat.lastIndex(of: ")"), stat.index(close, offsetBy: 2) < stat.endIndex,
                  let command = try? String(contentsOfFile: "/proc/\(pid)/cmdline", encoding: .utf8) else { return false }
            let state = stat[stat.index(close, offsetBy: 2)]
            return state != "Z" && state != "X" && command == "sleep\u{0}7777\u{0}"
        })
    }

    /// Sends `actions` (start, stop, restart) for worker `w` all at once and waits for every answer.
    static func parallel(_ actions: [String], socket: String) async throws {
        let client = ControlClient(socketPath: socket)
        let statuses = try await withThrowingTaskGroup(of: Int.self) { group in
            for action in actions {
                group.addTask { try await client.send(ControlRequest(method: "POST", path: "/v1/workers/w/\(action)")).status }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        #expect(statuses.allSatisfy { $0 == 200 }, "answers: \(statuses)")
    }

    @Test("parallel start, restart and stop requests leave at most one process, the one status shows (20 rounds)")
    func oneProcessPerWorker() async throws {
        let scratch = try Scratch()
        let pidFile = "\(scratch.path)/pids"
        let config = try scratch.config(extra: """
            workers:
              - {name: w, command: [/bin/sh, -c, "echo $$ >> \(pidFile); exec sleep 7777"], stop: {timeout: 5s}}
            """)
        let daemon = try await Daemon(config: config, scratch: scratch)
        defer { withExtendedLifetime(daemon) {} }

        /// What runs agrees with what opsd says: one process with the pid status shows, or none.
        func expectConsistent(_ round: Int, _ step: String) async throws {
            let status = try await worker("w", config)
            let live = Self.running(pidFile)
            if let pid = status.pid {
                #expect(live == [pid], "round \(round), \(step): status says pid \(pid) (\(status.state)), running: \(live.sorted())")
            } else {
                #expect(live.isEmpty, "round \(round), \(step): status says \(status.state) without a pid, running: \(live.sorted())")
            }
        }

        for round in 1...20 {
            try await Self.parallel(["stop"], socket: scratch.socket)
            try await expectConsistent(round, "stopped")
            #expect(Self.running(pidFile).isEmpty)

            try await Self.parallel(Array(repeating: "start", count: 8), socket: scratch.socket)
            try await expectConsistent(round, "8 starts")
            #expect(Self.running(pidFile).count == 1)

            try await Self.parallel(Array(repeating: "restart", count: 4), socket: scratch.socket)
            try await expectConsistent(round, "4 restarts")
            #expect(Self.running(pidFile).count == 1)

            try await Self.parallel(["start", "restart", "stop", "start", "restart", "stop", "start", "restart"], socket: scratch.socket)
            try await expectConsistent(round, "mixed")
        }
        try await Self.parallel(["stop", "stop", "stop"], socket: scratch.socket)
        #expect(Self.running(pidFile).isEmpty)
        #expect(try await worker("w", config).state == .stopped)
    }

    @Test("two reloads at once, each changing the worker, leave one process running the final definition")
    func parallelReloads() async throws {
        let scratch = try Scratch()
        let pidFile = "\(scratch.path)/pids"
        func definition(_ generation: Int) throws -> String {
            try scratch.config(extra: """
                workers:
                  - {name: w, command: [/bin/sh, -c, "echo $$ >> \(pidFile); exec sleep 7777"], environment: {GENERATION: "\(generation)"}}
                """)
        }
        let config = try definition(0)
        let daemon = try await Daemon(config: config, scratch: scratch)
        defer { withExtendedLifetime(daemon) {} }
        let client = ControlClient(socketPath: scratch.socket)
        for generation in 1...20 {
            _ = try definition(generation)
            try await withThrowingTaskGroup(of: Void.self) { group in
                for _ in 0..<2 {
                    group.addTask { _ = try await client.send(ControlRequest(method: "POST", path: "/v1/reload")) }
                }
                try await group.waitForAll()
            }
            let status = try await worker("w", config)
            #expect(Self.running(pidFile) == Set([status.pid].compactMap { $0 }), "reload \(generation): \(status.state)")
            #expect(status.state == .running)
        }
    }

    @Test("a notify worker that runs as another user reaches opsd and becomes running", .enabled(if: getuid() == 0, "switching users needs root"))
    func notifyWorkerAsAnotherUser() async throws {
        let scratch = try Scratch()
        // opsd's socket directory is private (0750, root's): nobody could not reach a notify socket file in it.
        chmod(scratch.path, 0o750)
        let programs = try Scratch()
        chmod(programs.path, 0o755)
        let script = try programs.write("notify.py", notifyWorker)
        chmod(script, 0o644)
        let config = try scratch.config(extra: """
            workers:
              - {name: n, command: [/usr/bin/python3, \(script), healthy], user: nobody, notify: true, start_timeout: 20s}
            """)
        let daemon = try await Daemon(config: config, scratch: scratch)
        defer { withExtendedLifetime(daemon) {} }
        let ready = try await daemon.logStream.first { $0.message == "worker is ready" && $0.fields["worker"] == "n" }
        #expect(ready.fields["worker"] == "n")
        let status = try await worker("n", config)
        #expect(status.state == .running)
        #expect(status.statusText == "serving requests")
    }

    @Test("a variable the config takes a secret from is not passed on to workers and check plugins")
    func secretVariablesWithheld() async throws {
        let scratch = try Scratch()
        let config = try scratch.config(extra: """
            workers:
              - {name: w, command: [/bin/sh, -c, "echo token=${OPS_TEST_API_TOKEN:-unset} plain=${OPS_TEST_PLAIN:-unset}; exec sleep 1000"]}
            checks:
              - name: api
                http: {url: "http://127.0.0.1:9/health", headers: {Authorization: {env: OPS_TEST_API_TOKEN}}}
                every: 1h
              - name: plugin
                command: [/bin/sh, -c, "echo token=${OPS_TEST_API_TOKEN:-unset} plain=${OPS_TEST_PLAIN:-unset} notify=${NOTIFY_SOCKET:-unset}"]
                every: 1h
            """)
        let daemon = try await Daemon(
            config: config, scratch: scratch,
            environment: ["OPS_TEST_API_TOKEN": "Bearer canary-\(UUID().uuidString)", "OPS_TEST_PLAIN": "visible"]
        )
        defer { withExtendedLifetime(daemon) {} }
        let line = try await daemon.logStream.first { $0.fields["worker"] == "w" && $0.message.hasPrefix("token=") }
        #expect(line.message == "token=unset plain=visible")
        // A check plugin is started by the same rules (and gets no NOTIFY_SOCKET of opsd's either).
        let plugin = try await daemon.logStream.first { $0.message == "check state changed" && $0.fields["check"] == "plugin" }
        #expect(plugin.fields["message"]?.hasPrefix("token=unset plain=visible notify=unset") == true, "\(plugin.fields)")
    }

    @Test("a check's restart: leaves a worker an operator stopped as it is")
    func checkRestartRespectsAStop() async throws {
        let scratch = try Scratch()
        // No start period: the check may restart the worker from its first result.
        let config = try scratch.config(extra: """
              log_level: debug
            workers:
              - {name: w, command: [/bin/sleep, "1000"]}
            checks:
              - name: always-critical
                command: [/bin/sh, -c, "echo down; exit 2"]
                every: 100ms
                restart: {worker: w, after: 1}
                start_period: 0s
            """)
        let daemon = try await Daemon(config: config, scratch: scratch)
        defer { withExtendedLifetime(daemon) {} }
        // While it runs, the check does restart it.
        _ = try await daemon.logStream.first { $0.message == "restarting a worker because a check stayed critical" }
        let stop = try await run("opsctl", ["workers", "stop", "w", "--config", config])
        #expect(stop.status == 0, "\(stop.stderr)")
        let mark = daemon.logStream.count
        // The check watches w: while w is stopped its results no longer count, so it asks for no
        // restart (and one asked for in the meantime finds w not running and leaves it).
        let leftAlone = try await daemon.logStream.first(after: mark - 1) {
            $0.message == "check result not counted" && $0.fields["reason"] == "worker w is not running"
        }
        #expect(leftAlone.fields["check"] == "always-critical")
        let status = try await worker("w", config)
        #expect(status.state == .stopped)
        #expect(status.pid == nil)
    }

    @Test("SIGTERM while a reload waits for a slow stop: the worker the reload added is stopped too, gracefully")
    func shutdownDuringReload() async throws {
        let scratch = try Scratch()
        let config = try scratch.config(extra: """
            workers:
              - {name: slow, command: [/bin/sh, -c, "trap '' TERM; sleep 1000 & wait"], stop: {timeout: 2s}}
            """)
        let daemon = try await Daemon(config: config, scratch: scratch)
        _ = try scratch.config(extra: """
            workers:
              - {name: added, command: [/bin/sleep, "1000"]}
              - {name: slow, command: [/bin/sh, -c, "trap '' TERM; sleep 1001 & wait"], stop: {timeout: 2s}}
            """)
        let reload = Task { try await run("opsctl", ["reload", "--config", config]) }
        // "added" starts first; then the reload waits up to 2 s for "slow", which ignores TERM.
        _ = try await daemon.logStream.first(where: started("added"))
        daemon.signal(SIGTERM)
        #expect(await daemon.exitStatus() == 0)
        _ = try? await reload.value
        let stopped = daemon.logStream.lines.filter { $0.message == "worker stopped" }.compactMap { $0.fields["worker"] }
        #expect(stopped.contains("added"), "stopped: \(stopped)")
    }
}
