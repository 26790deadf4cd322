import ControlPlane
import Foundation
import OpsAPI
import OpsConfig
import Testing
import TestSupport

@Suite("opsd as a process: readiness, control socket, reload, shutdown")
struct DaemonTests {
    @Test("READY=1 arrives with a status line, the socket is 0660, and opsctl status answers")
    func readyAndStatus() async throws {
        let scratch = try Scratch()
        let config = try scratch.config(extra: """
            workers:
              - {name: web, command: [/bin/sleep, "1000"]}
            checks:
              - {name: root, disk: /, warn: 80%}
            """)
        let daemon = try await Daemon(config: config, scratch: scratch)
        #expect(daemon.notify.received.last?.contains("STATUS=Running: 1/1 workers running, 1 check, no backup") == true)

        let attributes = try FileManager.default.attributesOfItem(atPath: scratch.socket)
        #expect((attributes[.posixPermissions] as? Int) == 0o660)

        let human = try await run("opsctl", ["--config", config, "status"])
        #expect(human.status == 0)
        #expect(human.stdout.contains("opsd 0.1.0 is running (pid \(daemon.pid),"))
        #expect(human.stdout.contains("web   running"))

        let json = try await run("opsctl", ["status", "--json", "--socket", scratch.socket])
        #expect(json.status == 0)
        let report = try WireJSON.decoder.decode(StatusReport.self, from: Data(json.stdout.utf8))
        #expect(report.pid == daemon.pid)
        #expect(report.configPath == config)
        #expect(report.checks.map(\.name) == ["root"])
    }

    @Test("a socket directory that does not exist yet is created (0750), workers and all")
    func missingSocketDirectory() async throws {
        let scratch = try Scratch()
        let config = try scratch.write("ops.yaml", """
            daemon: {socket: run/sub/opsd.sock, state_dir: state}
            workers:
              - {name: w, command: [/bin/sleep, "1000"]}
            """)
        let daemon = try await Daemon(config: config, scratch: scratch)
        defer { withExtendedLifetime(daemon) {} }
        let attributes = try FileManager.default.attributesOfItem(atPath: "\(scratch.path)/run/sub")
        #expect((attributes[.posixPermissions] as? Int) == 0o750)
        let status = try await run("opsctl", ["status", "--json", "--config", config])
        #expect(status.status == 0, "\(status.stderr)")
    }

    @Test("every socket path config check accepts binds, up to 103 bytes, whatever the digits of opsd's pid")
    func longSocketPaths() async throws {
        let scratch = try Scratch()
        // opsd binds a temporary name (.opsd-PID.sock, 7-8 bytes longer) first; at these lengths
        // it was once 104-107 bytes, which NIO refuses, so opsd failed to start.
        for length in [96, 98, 100, 103] {
            let prefix = "\(scratch.path)/\(length)-"
            let directory = prefix + String(repeating: "d", count: length - prefix.utf8.count - "/opsd.sock".utf8.count)
            let socket = "\(directory)/opsd.sock"
            #expect(socket.utf8.count == length)
            let config = try scratch.write("ops-\(length).yaml", "daemon: {socket: \(socket), state_dir: \(scratch.path)/state-\(length)}\n")
            #expect(try await run("opsctl", ["config", "check", config]).status == 0)
            let daemon = try await Daemon(config: config, scratch: scratch)
            let status = try await run("opsctl", ["status", "--socket", socket])
            #expect(status.status == 0, "\(length) bytes: \(status.stderr)")
            daemon.signal(SIGTERM)
            #expect(await daemon.exitStatus() == 0)
        }
    }

    @Test("a second opsd on the same socket refuses to start and names the first")
    func secondInstance() async throws {
        let scratch = try Scratch()
        let config = try scratch.config()
        let first = try await Daemon(config: config, scratch: scratch)
        let socket = try FileManager.default.attributesOfItem(atPath: scratch.socket)[.systemFileNumber] as? Int
        let second = try await run("opsd", ["--config", config], environment: ["OPS_LOG_FORMAT": "human"])
        #expect(second.status == 1)
        // The refused one touched nothing of the running one's: its control socket is the same file.
        #expect(try FileManager.default.attributesOfItem(atPath: scratch.socket)[.systemFileNumber] as? Int == socket)
        #expect(second.stderr.contains("another opsd (pid \(first.pid)) is already serving \(scratch.socket); stop it first"))
        // The first one is unharmed.
        #expect(try await run("opsctl", ["status", "--socket", scratch.socket]).status == 0)
    }

    @Test("a stale socket left by a killed opsd is taken over; opsctl calls it what it is")
    func staleSocket() async throws {
        let scratch = try Scratch()
        let config = try scratch.config()
        let crashed = try await Daemon(config: config, scratch: scratch)
        crashed.signal(SIGKILL)
        _ = await crashed.exitStatus()
        #expect(FileManager.default.fileExists(atPath: scratch.socket))

        let stale = try await run("opsctl", ["status", "--config", config])
        #expect(stale.status == 3)
        #expect(stale.stderr == "opsctl: opsd is not running (nothing answers on \(scratch.socket), left by an earlier run); start it with `systemctl start opsd` or `opsd --config FILE`\n")

        let next = try await Daemon(config: config, scratch: scratch)
        _ = try await next.logStream.first { $0.message == "removed a stale control socket left by an earlier run" }
        #expect(try await run("opsctl", ["status", "--config", config]).status == 0)
    }

    @Test("opsctl with no daemon says so in one sentence and exits 3")
    func noDaemon() async throws {
        let scratch = try Scratch()
        let config = try scratch.config()
        let result = try await run("opsctl", ["status", "--config", config])
        #expect(result.status == 3)
        #expect(result.stdout.isEmpty)
        #expect(result.stderr == "opsctl: opsd is not running (no control socket at \(scratch.socket)); start it with `systemctl start opsd` or `opsd --config FILE`\n")
        let reload = try await run("opsctl", ["reload", "--config", config])
        #expect(reload.status == 3)
    }

    @Test("SIGHUP reloads: RELOADING=1 … READY=1, new config in force; a broken file is rejected whole")
    func reloadOnSignal() async throws {
        let scratch = try Scratch()
        let config = try scratch.config()
        let daemon = try await Daemon(config: config, scratch: scratch)

        _ = try scratch.config(extra: "checks:\n  - {name: mem, memory: {}}\n")
        daemon.signal(SIGHUP)
        _ = try await daemon.notify.next { $0.contains("RELOADING=1") && $0.contains("MONOTONIC_USEC=") }
        let ready = try await daemon.notify.next { $0.contains("READY=1") }
        #expect(ready.contains("STATUS=Running: no workers, 1 check, no backup"))

        _ = try scratch.config(extra: "checks:\n  - {name: mem, memory: {}, every: 60}\n")
        daemon.signal(SIGHUP)
        _ = try await daemon.notify.next { $0.contains("RELOADING=1") }
        let rejected = try await daemon.notify.next { $0.contains("READY=1") }
        #expect(rejected.contains("last reload rejected (1 problem; previous config in force)"))

        let status = try await run("opsctl", ["status", "--json", "--config", config])
        let report = try WireJSON.decoder.decode(StatusReport.self, from: Data(status.stdout.utf8))
        #expect(report.reloads == 1)
        #expect(report.checks.map(\.everySeconds) == [60])
        #expect(report.lastReloadErrors == [#"checks[0].every: "60" is not a duration; add a unit, e.g. 60s (line 5)"#])
        _ = try await daemon.logStream.first { $0.message == "configuration reload rejected; the previous configuration stays in force" }
    }

    @Test("opsctl reload applies a good file and refuses a bad one with its problems")
    func reloadThroughOpsctl() async throws {
        let scratch = try Scratch()
        let config = try scratch.config()
        let daemon = try await Daemon(config: config, scratch: scratch)
        defer { withExtendedLifetime(daemon) {} }

        _ = try scratch.config(extra: "workers:\n  - {name: w, command: [/bin/true]}\n")
        let good = try await run("opsctl", ["reload", "--config", config])
        #expect(good.status == 0)
        #expect(good.stdout == "configuration reloaded (changed: workers)\n")

        _ = try scratch.config(extra: "workers:\n  - {name: w, comand: [/bin/true]}\n")
        let bad = try await run("opsctl", ["reload", "--config", config])
        #expect(bad.status == 1)
        #expect(bad.stderr.contains("opsctl: reload rejected; the running configuration stays in force."))
        #expect(bad.stderr.contains(#"workers[0].comand: unknown key; did you mean "command"?"#))
    }

    @Test("SIGTERM: STOPPING=1, exit 0, socket removed")
    func gracefulStop() async throws {
        let scratch = try Scratch()
        let daemon = try await Daemon(config: try scratch.config(), scratch: scratch)
        daemon.signal(SIGTERM)
        _ = try await daemon.notify.next { $0.contains("STOPPING=1") }
        #expect(await daemon.exitStatus() == 0)
        #expect(!FileManager.default.fileExists(atPath: scratch.socket))
    }

    @Test("an invalid config stops start-up with exit 78 and the problem; READY=1 is never sent")
    func invalidConfig() async throws {
        let scratch = try Scratch()
        let config = try scratch.config(extra: "checks:\n  - {name: d, disk: /, warn: eighty}\n")
        let daemon = try await Daemon(config: config, scratch: scratch, environment: ["OPS_LOG_FORMAT": "human"], waitForReady: false)
        #expect(await daemon.exitStatus() == 78)
        #expect(daemon.log.contains(#"checks[0].warn: "eighty" is not a threshold; write a number (100), a percentage (80%) or a Nagios range (10:, ~:50, @10:20) (line 5)"#))
        #expect(!daemon.notify.received.contains { $0.contains("READY=1") })
        #expect(!FileManager.default.fileExists(atPath: scratch.socket))
    }

    @Test("the command line: --help teaches, --version answers, a wrong argument exits 64 with one sentence")
    func commandLine() async throws {
        let help = try await run("opsd", ["--help"])
        #expect(help.status == 0)
        #expect(help.stdout.contains("Usage: opsd [--config PATH] [--log-format FORMAT]"))
        #expect(help.stdout.contains("SIGHUP reloads the configuration"))
        let version = try await run("opsd", ["--version"])
        // The full report is VersionTests'; here only that it answers, first with opsd's version.
        #expect(version.status == 0 && version.stdout.hasPrefix("opsd \(opsVersion), commit "), "\(version.stdout)")
        let unknown = try await run("opsd", ["--confg", "x.yaml"])
        #expect(unknown.status == 64)
        #expect(unknown.stderr == "opsd: unknown argument --confg; see opsd --help\n")
        let format = try await run("opsd", ["--log-format=xml"])
        #expect(format.status == 64)
        #expect(format.stderr == "opsd: --log-format must be auto, journal, json or human, not \"xml\"\n")
        let missing = try await run("opsd", ["--config"])
        #expect(missing.status == 64 && missing.stderr == "opsd: --config needs a value; see opsd --help\n")
    }

    @Test("with stderr not a terminal nor the journal, every log line is one JSON object")
    func jsonLogs() async throws {
        let scratch = try Scratch()
        let daemon = try await Daemon(config: try scratch.config(), scratch: scratch)
        daemon.signal(SIGHUP)
        _ = try await daemon.notify.next { $0.contains("READY=1") }
        daemon.signal(SIGTERM)
        #expect(await daemon.exitStatus() == 0)
        let lines = daemon.log.split(separator: "\n")
        #expect(lines.count >= 5)
        for line in lines {
            let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
            #expect(object?["time"] is String && object?["level"] is String && object?["message"] is String && object?["fields"] is [String: Any], "\(line)")
        }
        #expect(lines.contains { $0.contains(#""message":"configuration reloaded""#) })
    }
}

@Suite("The watchdog pings only while the daemon makes progress")
struct WatchdogTests {
    /// Stalls the state actor through `/v1/debug/stall`, which only the debug build the tests run has.
    @Test("WATCHDOG=1 flows; a stalled state actor stops it and says why; it resumes after")
    func gatedPings() async throws {
        let scratch = try Scratch()
        let daemon = try await Daemon(
            config: try scratch.config(), scratch: scratch,
            environment: ["WATCHDOG_USEC": "2000000", "OPSD_TEST_HOOKS": "1"]
        )
        _ = try await daemon.notify.next { $0 == "WATCHDOG=1" }

        let client = ControlClient(socketPath: scratch.socket)
        let stall = Task { try await client.send(ControlRequest(method: "POST", path: "/v1/debug/stall", query: ["seconds": "3"])) }
        // The stalled state is named in an unhealthy status. (On a loaded machine an earlier period
        // may name the control socket's probe first, slow for the same reason: each period says why.)
        let unhealthy = try await daemon.notify.next { $0.hasPrefix("STATUS=Unhealthy") && $0.contains("daemon state: ") }
        #expect(unhealthy.contains("daemon state: no answer within"))
        #expect(try await stall.value.status == 200)
        // Each period of the stall reports again; after it, the normal status comes back.
        let restored = try await daemon.notify.next { $0.hasPrefix("STATUS=") && !$0.hasPrefix("STATUS=Unhealthy") }
        #expect(restored == "STATUS=Running: no workers, 0 checks, no backup")
        _ = try await daemon.notify.next { $0 == "WATCHDOG=1" }
        _ = try await daemon.logStream.first { $0.message == "watchdog: every probe answers again; pinging resumed" }
    }

    @Test("without WATCHDOG_USEC there are no pings at all")
    func disabled() async throws {
        let scratch = try Scratch()
        let daemon = try await Daemon(config: try scratch.config(), scratch: scratch)
        daemon.signal(SIGTERM)
        _ = try await daemon.notify.next { $0.contains("STOPPING=1") }
        #expect(!daemon.notify.received.contains("WATCHDOG=1"))
    }
}

@Suite("opsctl config check")
struct ConfigCheckTests {
    @Test("a secret file inside backup.files is a warning (the backup leaves it out): stderr and --json, exit 0; excluding it silences it")
    func secretFileWarning() async throws {
        let scratch = try Scratch()
        try FileManager.default.createDirectory(atPath: scratch.path + "/etc", withIntermediateDirectories: true)
        _ = try scratch.write("etc/token", "t0ken\n")
        let config = try scratch.config(extra: """
            backup:
              repository: \(scratch.path)/backup.git
              databases: []
              files: [\(scratch.path)/etc]
              remote: {url: "https://127.0.0.1/backup.git", token_file: \(scratch.path)/etc/token}
            """)
        let text = try await run("opsctl", ["config", "check", config])
        #expect(text.status == 0, "\(text.stderr)")
        #expect(text.stderr.contains("warning: backup.files includes \(scratch.path)/etc/token, which backup.remote.token_file names as a secret; backups leave it out"), "\(text.stderr)")
        let json = try await run("opsctl", ["config", "check", "--json", config])
        #expect(json.status == 0)
        #expect(json.stdout.contains("backup.remote.token_file names as a secret"), "\(json.stdout)")
        _ = try scratch.config(extra: """
            backup:
              repository: \(scratch.path)/backup.git
              databases: []
              files: [\(scratch.path)/etc]
              exclude: ["token"]
              remote: {url: "https://127.0.0.1/backup.git", token_file: \(scratch.path)/etc/token}
            """)
        let excluded = try await run("opsctl", ["config", "check", config])
        #expect(excluded.status == 0)
        #expect(!excluded.stderr.contains("warning"), "\(excluded.stderr)")
    }

    @Test("the shipped configs are valid")
    func shipped() async throws {
        let reference = try await run("opsctl", ["config", "check", "\(repositoryRoot)/examples/ops.yaml"])
        #expect(reference.status == 0)
        #expect(reference.stdout == "\(repositoryRoot)/examples/ops.yaml: valid (1 worker, 11 checks, 5 jobs, backup, 3 alert routes)\n")
        #expect(try await run("opsctl", ["config", "check", "\(repositoryRoot)/examples/demo/ops.yaml"]).status == 0)
    }

    @Test("broken files exit 1 with their problem, never a crash", arguments: [
        ("bad-duration", "checks: [{name: d, disk: /, every: 5 minutes}]", #"checks[0].every: "5 minutes" is not a duration"#),
        ("unknown-key", "daemon: {sockt: /x}", #"daemon.sockt: unknown key; did you mean "socket"?"#),
        ("wrong-type", "workers: 3", "workers: expected a list"),
        ("missing-field", "backup: {databases: [a.db]}", "backup.repository: is required but missing (line 1)"),
        ("empty", "", "the file is empty"),
    ])
    func broken(name: String, text: String, expected: String) async throws {
        let scratch = try Scratch()
        let file = try scratch.write("\(name).yaml", text)
        let result = try await run("opsctl", ["config", "check", file])
        #expect(result.status == 1)
        #expect(result.stderr.contains(expected), "\(result.stderr)")
    }

    @Test("a directory, a missing file and non-UTF-8 bytes are reported too")
    func notFiles() async throws {
        let scratch = try Scratch()
        let latin1 = "\(scratch.path)/latin1.yaml"
        _ = FileManager.default.createFile(atPath: latin1, contents: Data([0x64, 0x3A, 0x20, 0xE9, 0x0A]))
        for (file, expected) in [
            (scratch.path, "is a directory, not a config file"),
            ("\(scratch.path)/missing.yaml", "no such file"),
            (latin1, "is not UTF-8 text (invalid byte at offset 3)"),
        ] {
            let result = try await run("opsctl", ["config", "check", file])
            #expect(result.status == 1)
            #expect(result.stderr.contains(expected), "\(result.stderr)")
        }
    }

    @Test("--json gives scripts the problems with path and line")
    func json() async throws {
        let scratch = try Scratch()
        let file = try scratch.write("bad.yaml", "daemon:\n  log_level: loud\n")
        let result = try await run("opsctl", ["config", "check", "--json", file])
        #expect(result.status == 1)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
        #expect(object["valid"] as? Bool == false)
        let problems = try #require(object["problems"] as? [[String: Any]])
        #expect(problems.first?["path"] as? String == "daemon.log_level")
        #expect(problems.first?["line"] as? Int == 2)
    }
}
