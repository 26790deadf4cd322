import ControlPlane
import Foundation
import OpsAPI
import Testing
import TestSupport

@Suite("opsd runs checks: opsctl health, /healthz, /metrics, restarts, in-process fallback")
struct HealthTests {
    @Test("one set of results, every output: table, --json, --nagios, /healthz, /metrics; a CRIT check restarts its worker")
    func outputs() async throws {
        let scratch = try Scratch()
        let port = try freePort()
        let spool = "\(scratch.path)/spool"
        try FileManager.default.createDirectory(atPath: spool, withIntermediateDirectories: true)
        for name in ["a", "b"] { try "x".write(toFile: "\(spool)/\(name)", atomically: false, encoding: .utf8) }
        let config = try scratch.config(extra: """
              listen: 127.0.0.1:\(port)
            workers:
              - {name: web, command: [/bin/sleep, "1000"]}
            checks:
              - {name: root, disk: /, crit: "100%", every: 1s}
              - {name: outbox, queue: {spool: \(spool)}, warn: 1, every: 1s}
              - {name: self, http: "http://127.0.0.1:\(port)/metrics", every: 1s}
              - {name: stuck, command: [/bin/sh, -c, "echo STUCK CRITICAL - no progress; exit 2"], every: 200ms, restart: {worker: web, after: 2}, start_period: 0s}
            """)
        let daemon = try await Daemon(config: config, scratch: scratch)

        // Every check has run once a JSON health document has no "pending" left.
        let json = try await poll("every check has a result") { () -> CommandResult? in
            let result = try await run("opsctl", ["--config", config, "health", "--json"])
            return result.stdout.contains("has not run yet") ? nil : result
        }
        #expect(json.status == 2, "\(json.stderr)")
        let document = try #require(try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any])
        #expect(document["status"] as? String == "fail")
        let checks = try #require(document["checks"] as? [String: [[String: Any]]])
        #expect(Set(checks.keys) == ["root:utilization", "outbox:backlog", "self:responseTime", "stuck:status"])
        #expect(checks["outbox:backlog"]?.first?["observedValue"] as? Double == 2)
        #expect(checks["outbox:backlog"]?.first?["status"] as? String == "warn")
        #expect(checks["self:responseTime"]?.first?["status"] as? String == "pass")

        let table = try await run("opsctl", ["--config", config, "health"])
        #expect(table.status == 2)
        #expect(table.stdout.contains("stuck   command  CRIT"))
        #expect(table.stdout.hasSuffix("Overall: CRITICAL\n"))

        let nagios = try await run("opsctl", ["--config", config, "health", "--nagios", "root", "self"])
        #expect(nagios.status == 0)
        #expect(nagios.stdout.hasPrefix("OPSD OK - 2 of 2 checks OK | root="), "\(nagios.stdout)")
        #expect(nagios.stdout.contains(" self="))
        let warn = try await run("opsctl", ["--config", config, "health", "--nagios", "outbox"])
        #expect(warn.status == 1)
        #expect(warn.stdout.hasPrefix("OPSD WARNING - 1 of 1 checks not OK: outbox WARNING: 2 files waiting, the oldest for "), "\(warn.stdout)")
        #expect(warn.stdout.hasSuffix(" (warn 1) | outbox=2;1\n"), "\(warn.stdout)")

        let unknown = try await run("opsctl", ["--config", config, "health", "nope"])
        #expect(unknown.status == 3)
        #expect(unknown.stderr == "opsctl: no check named nope (configured: root, outbox, self, stuck)\n")

        let healthz = try await run("/usr/bin/curl", ["-s", "-o", "/dev/null", "-w", "%{http_code} %{content_type}", "http://127.0.0.1:\(port)/healthz"])
        #expect(healthz.stdout == "503 application/health+json")
        let metricsFile = "\(scratch.path)/metrics.txt"
        let metrics = try await run("/usr/bin/curl", ["-sf", "-o", metricsFile, "http://127.0.0.1:\(port)/metrics"])
        #expect(metrics.status == 0)
        let text = try String(contentsOfFile: metricsFile, encoding: .utf8)
        #expect(text.contains(#"opsd_check_state{check="stuck",kind="command"} 2"#))
        let promtool = try await run("/bin/sh", ["-c", "promtool check metrics < \(metricsFile)"])
        #expect(promtool.status == 0 && promtool.stdout.isEmpty && promtool.stderr.isEmpty, "\(promtool.stdout)\(promtool.stderr)")

        // The stuck check asked for restarts of web; the supervisor did them.
        _ = try await daemon.logStream.first { $0.message == "restarting a worker because a check stayed critical" && $0.fields["worker"] == "web" }
        let status = try await poll("web was restarted") { () -> StatusReport? in
            let result = try await run("opsctl", ["--config", config, "status", "--json"])
            let report = try WireJSON.decoder.decode(StatusReport.self, from: Data(result.stdout.utf8))
            return report.workers.first?.restarts ?? 0 >= 1 ? report : nil
        }
        #expect(status.checks.first { $0.name == "stuck" }?.state == .crit)
        #expect(status.checks.first { $0.name == "stuck" }?.message == "STUCK CRITICAL - no progress")

        daemon.signal(SIGTERM)
        #expect(await daemon.exitStatus() == 0)

        // Without opsd, health runs the checks itself and says so.
        let alone = try await run("opsctl", ["--config", config, "health", "root"])
        #expect(alone.status == 0)
        #expect(alone.stderr == "opsctl: opsd is not running; ran 1 check(s) in-process from \(config)\n")
        #expect(alone.stdout.contains("root   disk  OK"))
    }

    @Test("health --now runs the checks through opsd at once: a change shows now, not at the next interval")
    func now() async throws {
        let scratch = try Scratch()
        let flag = "\(scratch.path)/broken"
        // Due once an hour: only a run asked for now can see the flag within the test.
        let config = try scratch.config(extra: """
            checks:
              - {name: flag, command: [/bin/sh, -c, "test -e \(flag) && { echo FLAG CRITICAL - flag set; exit 2; }; echo FLAG OK"], every: 1h}
              - {name: root, disk: /, crit: "100%", every: 1h}
            """)
        let daemon = try await Daemon(config: config, scratch: scratch)
        let first = try await poll("the first run ended") { () -> CommandResult? in
            let result = try await run("opsctl", ["--config", config, "health", "flag"])
            return result.stdout.contains("has not run yet") ? nil : result
        }
        #expect(first.status == 0, "\(first.stdout)")
        #expect(FileManager.default.createFile(atPath: flag, contents: nil))

        let stale = try await run("opsctl", ["--config", config, "health", "flag"])
        #expect(stale.status == 0 && stale.stdout.contains("FLAG OK"), "\(stale.stdout)")
        let fresh = try await run("opsctl", ["--config", config, "health", "--now", "flag"])
        #expect(fresh.status == 2, "\(fresh.stdout)\(fresh.stderr)")
        #expect(fresh.stdout.contains("FLAG CRITICAL - flag set") && fresh.stdout.hasSuffix("Overall: CRITICAL\n"), "\(fresh.stdout)")
        #expect(fresh.stderr.isEmpty, "\(fresh.stderr)")
        // The run counts as a scheduled one: opsd keeps its result.
        let after = try await run("opsctl", ["--config", config, "health", "--nagios", "flag"])
        #expect(after.status == 2 && after.stdout.hasPrefix("OPSD CRITICAL - 1 of 1 checks not OK: flag CRITICAL"), "\(after.stdout)")
        let unknown = try await run("opsctl", ["--config", config, "health", "--now", "nope"])
        #expect(unknown.status == 3 && unknown.stderr == "opsctl: no check named nope (configured: flag, root)\n", "\(unknown.stderr)")

        daemon.signal(SIGTERM)
        #expect(await daemon.exitStatus() == 0)
    }

    @Test("an opsd start on a healthy host alerts nobody: a worker still binding its port, a fresh install without a backup, and a restart")
    func quietStart() async throws {
        let scratch = try Scratch()
        let port = try freePort()
        let alerts = "\(scratch.path)/alerts.log"
        let database = "\(scratch.path)/app.db"
        #expect(FileManager.default.createFile(atPath: database, contents: nil))
        // The worker takes a second to listen; its check runs every 200 ms from the start.
        let config = try scratch.config(extra: """
              log_level: debug
            workers:
              - {name: web, command: [/bin/sh, -c, "sleep 1; exec python3 -m http.server --bind 127.0.0.1 \(port)"]}
            checks:
              - {name: api, http: "http://127.0.0.1:\(port)/", worker: web, every: 200ms}
              - {name: backup-fresh, backup: {max_age: 26h}, every: 200ms}
            backup:
              repository: \(scratch.path)/backup.git
              databases: [\(database)]
            alerts:
              - {exec: [/bin/sh, -c, "echo \\"$OPS_CHECK $OPS_EVENT $OPS_MESSAGE\\" >> \(alerts)"]}
            """)
        var daemon = try await Daemon(config: config, scratch: scratch)
        _ = try await daemon.logStream.first { $0.message == "check state changed" && $0.fields["check"] == "api" && $0.fields["to"] == "ok" }
        _ = try await daemon.logStream.first { $0.message == "check state changed" && $0.fields["check"] == "backup-fresh" && $0.fields["to"] == "ok" }
        // The failures before the worker listened were seen, and held back.
        #expect(daemon.logStream.lines.contains { $0.message == "check result not counted" && $0.fields["check"] == "api" })
        let fresh = try await run("opsctl", ["--config", config, "health", "backup-fresh"])
        #expect(fresh.status == 0 && fresh.stdout.contains("no backup yet on this install"), "\(fresh.stdout)")
        daemon.signal(SIGTERM)
        #expect(await daemon.exitStatus() == 0)

        // Again, with the history: the worker binds late once more, and still nobody hears of it.
        daemon = try await Daemon(config: config, scratch: scratch)
        _ = try await daemon.logStream.first { $0.message == "check ran" && $0.fields["check"] == "api" && $0.fields["state"] == "ok" }
        daemon.signal(SIGTERM)
        #expect(await daemon.exitStatus() == 0)
        #expect(!FileManager.default.fileExists(atPath: alerts), "\((try? String(contentsOfFile: alerts, encoding: .utf8)) ?? "")")
    }

    @Test("a port in use for daemon.listen stops start-up with one sentence")
    func portInUse() async throws {
        let scratch = try Scratch()
        let holder = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(holder) }
        let port = try bindLoopback(holder)
        listen(holder, 1)
        let config = try scratch.config(extra: "  listen: 127.0.0.1:\(port)")
        let result = try await run("opsd", ["--config", config], environment: ["OPS_LOG_FORMAT": "human"])
        #expect(result.status == 1)
        #expect(result.stderr.contains("cannot listen on 127.0.0.1:\(port): Address already in use; free the port or change daemon.listen"), "\(result.stderr)")
    }
}

/// `eventually` at a tenth of a second (the limit: TestSupport's safety net, unless given).
func poll<T>(_ what: String, limit: Duration = .seconds(180), _ probe: () async throws -> T?) async throws -> T {
    try await eventually(what, limit: limit, every: .milliseconds(100), probe)
}

@Suite("opsd's alerts reach real receivers")
struct AlertDeliveryTests {
    @Test("state changes reach a webhook and an exec hook once each, through the event stream and the routes; a restarted opsd resumes from its history without re-alerting")
    func alerts() async throws {
        let scratch = try Scratch()
        let record = "\(scratch.path)/hooks.jsonl", hookOut = "\(scratch.path)/exec.out", flag = "\(scratch.path)/broken"
        let receiver = Process()
        receiver.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
        receiver.arguments = ["-u", "\(repositoryRoot)/Tests/ChecksTests/Fixtures/http_fixture.py", "--record", record]
        let receiverOutput = Pipe()
        receiver.standardOutput = receiverOutput
        // Not the test's own stderr: a receiver outliving the test would hold `swift test`'s pipe open.
        receiver.standardError = FileHandle.nullDevice
        try receiver.run()
        // SIGKILL: Foundation's Process passes on this process's signal dispositions, and the
        // receiver was seen to survive SIGTERM.
        defer { kill(receiver.processIdentifier, SIGKILL) }
        // The receiver prints "PORT n" once it listens; read until that line ends (or output ends).
        var portLine = ""
        while !portLine.contains("\n") {
            let chunk = receiverOutput.fileHandleForReading.availableData
            if chunk.isEmpty { break }
            portLine += String(decoding: chunk, as: UTF8.self)
        }
        let port = try #require(Int(portLine.split(separator: " ").last?.trimmingCharacters(in: .whitespacesAndNewlines) ?? ""), "\(portLine)")

        let config = try scratch.config(extra: """
              log_level: debug
            checks:
              - {name: flag, command: [/bin/sh, -c, "test -e \(flag) && { echo FLAG CRITICAL - flag set; exit 2; }; echo FLAG OK"], every: 100ms}
            alerts:
              - {webhook: "http://127.0.0.1:\(port)/hook/SECRET", on: [crit, recover]}
              - {exec: [/bin/sh, -c, "echo \\"$OPS_CHECK $OPS_EVENT $OPS_MESSAGE\\" >> \(hookOut)"], on: [crit, recover]}
            """)
        func lines(_ path: String) -> [String] {
            ((try? String(contentsOfFile: path, encoding: .utf8)) ?? "").split(separator: "\n").map(String.init)
        }
        var daemon = try await Daemon(config: config, scratch: scratch)
        _ = try await daemon.logStream.first { $0.message == "check state changed" && $0.fields["to"] == "ok" }
        #expect(FileManager.default.createFile(atPath: flag, contents: nil))
        _ = try await poll("the crit alert arrived twice") { lines(record).count >= 1 && lines(hookOut).count >= 1 ? true : nil }
        try FileManager.default.removeItem(atPath: flag)
        _ = try await poll("the recover alert arrived twice") { lines(record).count >= 2 && lines(hookOut).count >= 2 ? true : nil }
        #expect(lines(hookOut) == ["flag check_crit check flag is CRITICAL: FLAG CRITICAL - flag set", "flag check_recover check flag is OK again: FLAG OK"])
        let events = lines(record).compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
            .compactMap { ($0["body"] as? [String: Any])?["event"] as? String }
        #expect(events == ["check_crit", "check_recover"])
        #expect(!daemon.log.contains("SECRET"))

        // Restart: the history says "ok", so the first OK result is no change and sends nothing.
        daemon.signal(SIGTERM)
        #expect(await daemon.exitStatus() == 0)
        daemon = try await Daemon(config: config, scratch: scratch)
        let health = try await poll("the check ran after the restart") { () -> CommandResult? in
            let result = try await run("opsctl", ["--config", config, "health", "flag"])
            return result.stdout.contains("has not run yet") ? nil : result
        }
        #expect(health.status == 0)
        // Five more runs, each a chance to alert wrongly; then nothing may have changed or been sent.
        _ = try await daemon.logStream.nth(5) { $0.message == "check ran" && $0.fields["check"] == "flag" }
        #expect(!daemon.logStream.lines.contains { $0.message == "check state changed" })
        #expect(lines(record).count == 2 && lines(hookOut).count == 2)
        daemon.signal(SIGTERM)
        #expect(await daemon.exitStatus() == 0)
    }
}
