import Foundation
import OpsAPI
import Testing
import TestSupport

/// `opsctl workers start|stop|restart` wait in opsd for the outcome and exit by it; `opsctl
/// status` exits 3 while a worker that should run does not (issue 17 item 1).
@Suite("Worker commands scripts can trust")
struct WorkerOutcomeTests {
    @Test("start and restart exit 1 with the reason when the worker does not get to running; 0 when it does")
    func outcomes() async throws {
        let scratch = try Scratch()
        let script = try scratch.write("worker.py", notifyWorker)
        // Long backoffs: opsd does not start the failed ones again while the test looks at them.
        let config = try scratch.config(extra: """
            workers:
              - {name: web, command: [/bin/sleep, "1000"]}
              - {name: broken, command: [/nonexistent/program], restart: {backoff: 60s..60s}}
              - {name: quits, command: [/bin/sh, -c, "exit 1"], restart: {policy: always, backoff: 60s..60s}}
              - {name: mute, command: [python3, \(script), never-ready], notify: true, start_timeout: 300ms, stop: {timeout: 1s}, restart: {backoff: 60s..60s}}
              - {name: slow, command: [python3, \(script), never-ready], notify: true, start_timeout: 60s, stop: {timeout: 1s}}
            """)
        let daemon = try await Daemon(config: config, scratch: scratch)

        let web = try await run("opsctl", ["--config", config, "workers", "restart", "web"])
        #expect(web.status == 0, "\(web.stderr)")
        #expect(web.stdout.hasPrefix("web: running (pid "), "\(web.stdout)")
        let stop = try await run("opsctl", ["--config", config, "workers", "stop", "web"])
        #expect(stop.status == 0 && stop.stdout == "web: stopped\n", "\(stop.stdout)\(stop.stderr)")

        let broken = try await run("opsctl", ["--config", config, "workers", "start", "broken"])
        #expect(broken.status == 1)
        #expect(broken.stdout == "broken: backoff\n")
        #expect(broken.stderr.hasPrefix("opsctl: broken did not reach running: exec failed: "), "\(broken.stderr)")
        #expect(broken.stderr.lowercased().contains("no such file"), "\(broken.stderr)")

        let quits = try await run("opsctl", ["--config", config, "workers", "start", "quits"])
        #expect(quits.status == 1)
        #expect(quits.stderr == "opsctl: quits did not reach running: exited at start with status 1\n", "\(quits.stderr)")

        let mute = try await run("opsctl", ["--config", config, "workers", "restart", "mute", "--json"])
        #expect(mute.status == 1)
        #expect(mute.stderr.hasPrefix("opsctl: mute did not reach running: start timeout: no READY=1 within 300ms"), "\(mute.stderr)")
        let status = try WireJSON.decoder.decode(WorkerStatus.self, from: Data(mute.stdout.utf8))
        #expect(status.message?.hasPrefix("start timeout") == true)

        let slow = try await run("opsctl", ["--config", config, "workers", "restart", "slow", "--timeout", "300ms"])
        #expect(slow.status == 1)
        #expect(slow.stdout.hasPrefix("slow: starting (pid "), "\(slow.stdout)")
        #expect(slow.stderr == "opsctl: slow did not reach running: still starting when the timeout ended\n", "\(slow.stderr)")

        let usage = try await run("opsctl", ["--config", config, "workers", "start", "web", "--timeout", "soon"])
        #expect(usage.status == 64)
        #expect(usage.stderr.contains("--timeout soon is not a duration"), "\(usage.stderr)")
        daemon.signal(SIGTERM)
        #expect(await daemon.exitStatus() == 0)
    }

    @Test("all and globs act on every worker they select, print each in configuration order, and exit 1 when one fails")
    func selections() async throws {
        let scratch = try Scratch()
        let config = try scratch.config(extra: """
            workers:
              - {name: web-1, command: [/bin/sleep, "1000"]}
              - {name: web-2, command: [/bin/sleep, "1000"]}
              - {name: broken, command: [/nonexistent/program], restart: {backoff: 60s..60s}}
            """)
        let daemon = try await Daemon(config: config, scratch: scratch)
        let webs = try await run("opsctl", ["--config", config, "workers", "restart", "web-*"])
        #expect(webs.status == 0, "\(webs.stderr)")
        #expect(webs.stdout.split(separator: "\n").map { $0.prefix(17) } == ["web-1: running (p", "web-2: running (p"], "\(webs.stdout)")
        let json = try await run("opsctl", ["--config", config, "workers", "stop", "web-?", "--json"])
        #expect(json.status == 0)
        let stopped = try WireJSON.decoder.decode([WorkerStatus].self, from: Data(json.stdout.utf8))
        #expect(stopped.map(\.name) == ["web-1", "web-2"] && stopped.allSatisfy { $0.state == .stopped })

        let all = try await run("opsctl", ["--config", config, "workers", "start", "all"])
        #expect(all.status == 1)
        #expect(all.stdout.split(separator: "\n").map { String($0.prefix(12)) } == ["web-1: runni", "web-2: runni", "broken: back"], "\(all.stdout)")
        #expect(all.stderr.hasPrefix("opsctl: broken did not reach running: exec failed: "), "\(all.stderr)")

        let none = try await run("opsctl", ["--config", config, "workers", "stop", "db-*"])
        #expect(none.status == 1)
        #expect(none.stderr == "opsctl: no worker matches db-* (configured: web-1, web-2, broken)\n", "\(none.stderr)")
        let bad = try await run("opsctl", ["--config", config, "workers", "stop", "web-[1"])
        #expect(bad.status == 64)
        #expect(bad.stderr.contains("the pattern web-[1 opens a \"[\" that is never closed"), "\(bad.stderr)")
        daemon.signal(SIGTERM)
        #expect(await daemon.exitStatus() == 0)
    }

    @Test("workers signal sends the signal to the worker's process group; exit 1 when it has no process, 64 for an unknown signal")
    func signal() async throws {
        let scratch = try Scratch()
        let config = try scratch.config(extra: """
            workers:
              - {name: web, command: [/bin/sh, -c, "trap 'echo got-hup' HUP; echo ready; while :; do sleep 1000 & wait $!; done"]}
              - {name: idle, command: [/bin/sleep, "1000"]}
            """)
        let daemon = try await Daemon(config: config, scratch: scratch)
        _ = try await daemon.logStream.first { $0.fields["worker"] == "web" && $0.message == "ready" }
        let pid = try #require(try await worker("web", config).pid)
        let sent = try await run("opsctl", ["--config", config, "workers", "signal", "web", "sighup"])
        #expect(sent.status == 0, "\(sent.stderr)")
        #expect(sent.stdout == "web: running (pid \(pid))\n")
        _ = try await daemon.logStream.first { $0.fields["worker"] == "web" && $0.message == "got-hup" }
        #expect(try await worker("web", config).pid == pid)

        #expect(try await run("opsctl", ["--config", config, "workers", "stop", "idle"]).status == 0)
        let none = try await run("opsctl", ["--config", config, "workers", "signal", "idle", "HUP"])
        #expect(none.status == 1)
        #expect(none.stderr == "opsctl: idle was not signalled: it has no process to signal\n", "\(none.stderr)")
        let bogus = try await run("opsctl", ["--config", config, "workers", "signal", "web", "BOGUS"])
        #expect(bogus.status == 64)
        #expect(bogus.stderr.contains("BOGUS is not a signal opsctl sends"), "\(bogus.stderr)")
        daemon.signal(SIGTERM)
        #expect(await daemon.exitStatus() == 0)
    }

    @Test("opsctl status exits 3 while a worker that should run is fatal, 0 once it is stopped on request")
    func statusExitCode() async throws {
        let scratch = try Scratch()
        let config = try scratch.config(extra: """
            workers:
              - {name: web, command: [/bin/sleep, "1000"]}
              - {name: loop, command: [/bin/sh, -c, "exit 1"], restart: {policy: always, backoff: 10ms..20ms, burst: 3 in 60s}}
            """)
        let daemon = try await Daemon(config: config, scratch: scratch)
        _ = try await daemon.logStream.first { $0.message.hasPrefix("worker is fatal") && $0.fields["worker"] == "loop" }
        let fatal = try await run("opsctl", ["--config", config, "status"])
        #expect(fatal.status == 3)
        #expect(fatal.stderr == "opsctl: loop is fatal; it should be running\n", "\(fatal.stderr)")
        #expect(fatal.stdout.contains("Workers (2)"))

        #expect(try await run("opsctl", ["--config", config, "workers", "stop", "loop"]).status == 0)
        let healthy = try await run("opsctl", ["--config", config, "status"])
        #expect(healthy.status == 0, "\(healthy.stderr)")
        daemon.signal(SIGTERM)
        #expect(await daemon.exitStatus() == 0)
    }

    @Test("workers start exits 3 when opsd is not running; each action's and status's --help documents every exit code")
    func notRunningAndHelp() async throws {
        let scratch = try Scratch()
        let config = try scratch.config()
        let result = try await run("opsctl", ["--config", config, "workers", "start", "web"])
        #expect(result.status == 3)
        for action in ["start", "stop", "restart", "signal"] {
            let help = try await run("opsctl", ["workers", action, "--help"]).stdout.replacingOccurrences(of: "\n", with: " ")
            for code in ["0 when the worker (every selected one) reached", "1 when one did not", "3 when opsd is not running", "64 for a usage error"] {
                #expect(help.contains(code), "workers \(action) --help: \(code)")
            }
        }
        let status = try await run("opsctl", ["status", "--help"]).stdout.replacingOccurrences(of: "\n", with: " ")
        #expect(status.contains("3 when a worker that should run does not"), "\(status)")
    }
}
