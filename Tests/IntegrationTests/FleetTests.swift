import Foundation
import Testing
import TestSupport

/// deploy/prometheus/ as shipped. The rules' behaviour, firing and not, is in the promtool unit
/// tests beside them (deploy/prometheus/tests/); this runs them, so `swift test` fails with them.
@Suite("deploy/prometheus: the shipped rules and example configs")
struct ShippedPrometheusFilesTests {
    static let directory = "\(repositoryRoot)/deploy/prometheus"

    @Test("promtool accepts the rules and the example Prometheus config, and every rule's unit test passes")
    func rules() async throws {
        let check = try await run("/usr/bin/promtool", ["check", "rules", "\(Self.directory)/opsd-rules.yml"])
        #expect(check.status == 0, "\(check.stdout)\(check.stderr)")
        let tests = try FileManager.default.contentsOfDirectory(atPath: "\(Self.directory)/tests").filter { $0.hasSuffix(".yml") }.sorted()
        #expect(!tests.isEmpty)
        let unit = try await run("/usr/bin/promtool", ["test", "rules"] + tests.map { "\(Self.directory)/tests/\($0)" })
        #expect(unit.status == 0 && unit.stdout.contains("SUCCESS"), "\(unit.stdout)\(unit.stderr)")
        let config = try await run("/usr/bin/promtool", ["check", "config", "\(Self.directory)/prometheus.yml"])
        #expect(config.status == 0, "\(config.stdout)\(config.stderr)")
    }

    @Test("amtool accepts the example Alertmanager config", .enabled(if: FleetEngines.available, FleetEngines.missing))
    func alertmanagerConfig() async throws {
        let check = try await run("/usr/bin/amtool", ["check-config", "\(Self.directory)/alertmanager.yml"])
        #expect(check.status == 0, "\(check.stdout)\(check.stderr)")
    }
}

/// Debian's prometheus and prometheus-alertmanager, which scripts/setup.sh installs. Outside CI a
/// machine without them skips the fleet with a message; in CI (`CI` set) the test runs and fails.
enum FleetEngines {
    static let prometheus = "/usr/bin/prometheus"
    static let alertmanager = "/usr/bin/prometheus-alertmanager"
    static var available: Bool {
        ProcessInfo.processInfo.environment["CI"] != nil
            || [prometheus, alertmanager, "/usr/bin/amtool"].allSatisfy { FileManager.default.isExecutableFile(atPath: $0) }
    }
    static let missing: Comment = "prometheus-alertmanager is not installed: run scripts/setup.sh as root (make test does)"
}

/// A server the fleet test starts (Prometheus, Alertmanager, the webhook receiver) and stops by pid.
private final class EngineProcess: @unchecked Sendable {
    let process = Process()

    init(_ executable: String, _ arguments: [String], log: String) throws {
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        try touch(log)
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: log))
        // Files, not the test's own pipes: a server outliving the test must not hold `swift test`'s output open.
        process.standardOutput = handle
        process.standardError = handle
        try process.run()
        try? handle.close()
    }

    /// SIGKILL: the engines keep nothing the test needs, and Foundation's Process passes on this
    /// process's signal dispositions, so SIGTERM may be ignored.
    func stop() {
        guard process.isRunning else { return }
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
    }

    deinit { stop() }
}

/// One opsd of the fleet: its own directory, config, socket, state database, backup repository and
/// listen port; flag files in its directory break its worker, job or check.
private struct FleetMember: Sendable {
    let index: Int
    let directory: String
    let port: Int
    var config: String { "\(directory)/ops.yaml" }
    var instance: String { "127.0.0.1:\(port)" }
    func flag(_ what: String) -> String { "\(directory)/broken-\(what)" }

    init(index: Int, scratch: Scratch) throws {
        self.index = index
        directory = "\(scratch.path)/o\(index)"
        port = try freePort()
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        try """
            daemon:
              socket: \(directory)/opsd.sock
              state_dir: \(directory)/state
              listen: 127.0.0.1:\(port)
            workers:
              - {name: app, command: [/bin/sh, -c, "test -e \(flag("worker")) && exit 3; exec sleep 1000"], restart: {policy: always, backoff: 100ms..200ms, burst: 2 in 60s}}
            jobs:
              - {name: task, schedule: "0 3 * * *", command: [/bin/sh, -c, "! test -e \(flag("job"))"]}
              - {name: nightly, schedule: "0 3 * * *", backup: {}}
            backup:
              repository: \(directory)/backup.git
              databases: [\(directory)/app.db]
            checks:
              - {name: probe, command: [/bin/sh, -c, "test -e \(flag("check")) && { echo PROBE CRITICAL - broken; exit 2; }; echo PROBE OK"], every: 1s}
            """.write(toFile: config, atomically: true, encoding: .utf8)
    }

    /// How a start went: ready, or the port was taken between `freePort` and opsd's bind (by
    /// another test on this machine), which opsd reports and exits on.
    enum Launch { case ready(Daemon), portTaken }

    /// Starts this member's opsd and waits until it is ready or has exited.
    func launch(scratch: Scratch) async throws -> Launch {
        let daemon = try await Daemon(config: config, scratch: scratch, waitForReady: false)
        var messages: [String] = []
        return try await poll("o\(index)'s opsd is ready", limit: .seconds(60)) { () -> Launch? in
            messages += daemon.notify.drain()
            if messages.contains(where: { $0.contains("READY=1") }) { return .ready(daemon) }
            guard !daemon.process.isRunning else { return nil }
            await daemon.logStream.waitForEnd()
            if daemon.log.contains("cannot listen on 127.0.0.1:\(port)") { return .portTaken }
            throw TestFailure("o\(index)'s opsd exited before it was ready:\n\(daemon.log)")
        }
    }

    func opsctl(_ arguments: String...) async throws -> CommandResult {
        try await run("\(binDirectory)/opsctl", ["--config", config] + arguments)
    }
}

/// One alert as Alertmanager's webhook delivered it.
private struct Delivered: Hashable, CustomStringConvertible {
    var alertname: String
    var instance: String
    var status: String
    var description: String { "\(alertname)@\(instance) \(status)" }
}

/// The shipped rules with every `for:` sixty times shorter (a minute becomes a second), so the fleet
/// alerts within seconds; the durations themselves are covered by promtool's unit tests. OpsdAbsent
/// keeps its five minutes: Prometheus' first service discovery takes five seconds, and the test
/// wants no alert that only says "Prometheus just started".
private func fastRules(_ text: String) -> String {
    var alert = ""
    return text.split(separator: "\n", omittingEmptySubsequences: false).map { line -> String in
        let trimmed = line.drop { $0 == " " }
        if trimmed.hasPrefix("- alert: ") { alert = String(trimmed.dropFirst("- alert: ".count)) }
        guard trimmed.hasPrefix("for: "), alert != "OpsdAbsent" else { return String(line) }
        let value = trimmed.dropFirst("for: ".count)
        let shorter = value.hasSuffix("m") ? value.dropLast() + "s" : value.hasSuffix("h") ? value.dropLast() + "m" : value
        return String(line.prefix(line.count - trimmed.count)) + "for: " + shorter
    }.joined(separator: "\n")
}

@Suite("a fleet of opsd under a real Prometheus and Alertmanager", .enabled(if: FleetEngines.available, FleetEngines.missing))
struct FleetTests {
    static let size = 20
    /// Who is broken, and the alert each must raise: a fatal worker, a failing job, a stale backup, a CRITICAL check.
    static let broken: [Int: String] = [3: "OpsdWorkerFatal", 7: "OpsdJobFailed", 11: "OpsdBackupStale", 15: "OpsdCheckCritical"]
    /// The member whose job breaks once the fleet is watched, to time fault → webhook.
    static let late = 19
    /// The member whose opsd is stopped while the fleet is watched.
    static let stopped = 5

    /// Members 3, 7, 11 and 15 are broken from the start; 19's job fails and 5's opsd stops while the fleet is watched.
    @Test("20 opsd scraped through file_sd: exactly the broken instances alert, labelled with their instance, and resolve once repaired")
    func fleet() async throws {
        let scratch = try Scratch()
        let started = ContinuousClock.now
        let record = "\(scratch.path)/webhook.jsonl"

        // The webhook receiver: records each POST body, one JSON object per line.
        let receiverOutput = Pipe()
        let receiver = Process()
        receiver.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
        receiver.arguments = ["-u", "\(repositoryRoot)/Tests/ChecksTests/Fixtures/http_fixture.py", "--record", record]
        receiver.standardOutput = receiverOutput
        receiver.standardError = FileHandle.nullDevice
        try receiver.run()
        defer { kill(receiver.processIdentifier, SIGKILL) }
        var portLine = ""
        while !portLine.contains("\n") {
            let chunk = receiverOutput.fileHandleForReading.availableData
            if chunk.isEmpty { break }
            portLine += String(decoding: chunk, as: UTF8.self)
        }
        let hookPort = try #require(Int(portLine.split(separator: " ").last?.trimmingCharacters(in: .whitespacesAndNewlines) ?? ""), "\(portLine)")

        // The fleet, the fatal worker and the CRITICAL check broken from the start.
        var members = try (0..<Self.size).map { try FleetMember(index: $0, scratch: scratch) }
        for member in members {
            try #require(try await run("/usr/bin/sqlite3", ["\(member.directory)/app.db", "CREATE TABLE t (x); INSERT INTO t VALUES (1);"]).status == 0)
        }
        try touch(members[3].flag("worker"))
        try touch(members[15].flag("check"))
        var daemons: [Int: Daemon] = [:]
        try await withThrowingTaskGroup(of: (FleetMember, Daemon).self) { group in
            for member in members {
                group.addTask {
                    var member = member
                    for _ in 1...3 {
                        if case .ready(let daemon) = try await member.launch(scratch: scratch) { return (member, daemon) }
                        member = try FleetMember(index: member.index, scratch: scratch)
                    }
                    throw TestFailure("o\(member.index): three free ports in a row were taken before opsd could bind them")
                }
            }
            for try await (member, daemon) in group {
                members[member.index] = member
                daemons[member.index] = daemon
            }
        }
        // Every job and backup has succeeded once, as on hosts that have run for a while.
        try await withThrowingTaskGroup(of: Void.self) { group in
            for member in members {
                group.addTask {
                    let task = try await member.opsctl("jobs", "run", "task")
                    let nightly = try await member.opsctl("jobs", "run", "nightly")
                    #expect(task.status == 0 && nightly.status == 0, "o\(member.index): \(task.stdout)\(task.stderr)\(nightly.stdout)\(nightly.stderr)")
                }
            }
            try await group.waitForAll()
        }
        // Then member 7's job fails, and member 11's last backup is 30 hours old (its records moved back in time).
        try touch(members[7].flag("job"))
        #expect(try await members[7].opsctl("jobs", "run", "task").status != 0)
        let shift = "UPDATE backup_runs SET started_at = started_at - 108000, finished_at = finished_at - 108000;"
        #expect(try await run("/usr/bin/sqlite3", ["\(members[11].directory)/state/state.db", shift]).status == 0)

        // Prometheus finds the fleet in two file_sd files; Alertmanager sends every alert to the receiver at once.
        try FileManager.default.createDirectory(atPath: "\(scratch.path)/targets", withIntermediateDirectories: true)
        for (file, part) in [("a", members.prefix(Self.size / 2)), ("b", members.suffix(Self.size - Self.size / 2))] {
            _ = try scratch.write("targets/\(file).yml", "- targets: [\(part.map { "\"\($0.instance)\"" }.joined(separator: ", "))]\n")
        }
        let shipped = try String(contentsOfFile: "\(ShippedPrometheusFilesTests.directory)/opsd-rules.yml", encoding: .utf8)
        let rules = try scratch.write("opsd-rules.yml", fastRules(shipped))
        let prometheusPort = try freePort(), alertmanagerPort = try freePort()
        let prometheusConfig = try scratch.write("prometheus.yml", """
            global: {scrape_interval: 1s, evaluation_interval: 1s}
            rule_files: [\(rules)]
            alerting:
              alertmanagers: [{static_configs: [{targets: ["127.0.0.1:\(alertmanagerPort)"]}]}]
            scrape_configs:
              - job_name: opsd
                file_sd_configs: [{files: ["\(scratch.path)/targets/*.yml"], refresh_interval: 1s}]
            """)
        let alertmanagerConfig = try scratch.write("alertmanager.yml", """
            route: {receiver: hook, group_by: [alertname, instance], group_wait: 0s, group_interval: 1s, repeat_interval: 1h}
            receivers:
              - name: hook
                webhook_configs: [{url: "http://127.0.0.1:\(hookPort)/hook", send_resolved: true}]
            """)
        let alertmanager = try EngineProcess(FleetEngines.alertmanager, [
            "--config.file=\(alertmanagerConfig)", "--storage.path=\(scratch.path)/alertmanager", "--cluster.listen-address=",
            "--web.listen-address=127.0.0.1:\(alertmanagerPort)",
        ], log: "\(scratch.path)/alertmanager.log")
        defer { alertmanager.stop() }
        let prometheus = try EngineProcess(FleetEngines.prometheus, [
            "--config.file=\(prometheusConfig)", "--storage.tsdb.path=\(scratch.path)/tsdb", "--web.listen-address=127.0.0.1:\(prometheusPort)",
        ], log: "\(scratch.path)/prometheus.log")
        defer { prometheus.stop() }
        let api = "http://127.0.0.1:\(prometheusPort)/api/v1"

        // All 20 targets up.
        let targets = try await poll("Prometheus scraped all \(Self.size) targets", limit: .seconds(60)) { () -> [String: String]? in
            let answer = try await getJSON("\(api)/targets")
            let active = ((answer?["data"] as? [String: Any])?["activeTargets"] as? [[String: Any]]) ?? []
            let health = Dictionary(active.compactMap { target -> (String, String)? in
                guard let instance = (target["labels"] as? [String: String])?["instance"], let health = target["health"] as? String else { return nil }
                return (instance, health)
            }, uniquingKeysWith: { first, _ in first })
            return health.count == Self.size && health.values.allSatisfy { $0 == "up" } ? health : nil
        }
        #expect(Set(targets.keys) == Set(members.map(\.instance)))
        let watched = ContinuousClock.now

        // Exactly the broken members' alerts arrive, each with its instance.
        let expected = Set(Self.broken.map { Delivered(alertname: $0.value, instance: members[$0.key].instance, status: "firing") })
        _ = try await poll("the broken members' alerts reached the webhook", limit: .seconds(60)) { () -> Bool? in
            expected.isSubset(of: deliveries(record)) ? true : nil
        }
        let firingLatency = ContinuousClock.now - watched

        // A fault while the fleet is watched: fault → receiver.
        let lateMember = members[Self.late]
        try touch(lateMember.flag("job"))
        let faulted = ContinuousClock.now
        #expect(try await lateMember.opsctl("jobs", "run", "task").status != 0)
        let lateAlert = Delivered(alertname: "OpsdJobFailed", instance: lateMember.instance, status: "firing")
        _ = try await poll("member \(Self.late)'s failed job reached the webhook", limit: .seconds(60)) { deliveries(record).contains(lateAlert) ? true : nil }
        let alertLatency = ContinuousClock.now - faulted

        // An opsd that stops is down in Prometheus.
        let stoppedMember = members[Self.stopped]
        daemons[Self.stopped]?.signal(SIGTERM)
        #expect(await daemons[Self.stopped]?.exitStatus() == 0)
        let downAlert = Delivered(alertname: "OpsdDown", instance: stoppedMember.instance, status: "firing")
        let stoppedAt = ContinuousClock.now
        _ = try await poll("member \(Self.stopped)'s opsd down reached the webhook", limit: .seconds(60)) { deliveries(record).contains(downAlert) ? true : nil }
        let downLatency = ContinuousClock.now - stoppedAt
        let firing = expected.union([lateAlert, downAlert])

        // Repairs: opsd and the worker started again, the jobs and the backup run again, the check's cause gone.
        for index in [3, 7, 15, Self.late] {
            for what in ["worker", "job", "check"] { try? FileManager.default.removeItem(atPath: members[index].flag(what)) }
        }
        let repaired = ContinuousClock.now
        daemons[Self.stopped] = try await Daemon(config: stoppedMember.config, scratch: scratch)
        #expect(try await members[3].opsctl("workers", "start", "app").status == 0)
        #expect(try await members[7].opsctl("jobs", "run", "task").status == 0)
        #expect(try await members[Self.late].opsctl("jobs", "run", "task").status == 0)
        #expect(try await members[11].opsctl("jobs", "run", "nightly").status == 0)
        let resolved = Set(firing.map { Delivered(alertname: $0.alertname, instance: $0.instance, status: "resolved") })
        _ = try await poll("every alert resolved", limit: .seconds(60)) { resolved.isSubset(of: deliveries(record)) ? true : nil }
        let resolveLatency = ContinuousClock.now - repaired

        // Nothing else, ever: no alert for a healthy member, none without an instance, no other kind of alert for the broken ones.
        let all = deliveries(record)
        #expect(all == firing.union(resolved), "unexpected deliveries: \(all.subtracting(firing.union(resolved)))")
        // And Prometheus holds no pending alert either (one that had not fired yet).
        let pending = try await getJSON("\(api)/alerts")
        let open = ((pending?["data"] as? [String: Any])?["alerts"] as? [[String: Any]]) ?? []
        #expect(open.isEmpty, "alerts still open in Prometheus: \(open)")

        print("fleet: \(Self.size) opsd up in Prometheus \(watched - started) after the start; first alerts \(firingLatency) after all targets were up; "
            + "fault → webhook \(alertLatency) (job failed, for: 0s, scrape and evaluation 1s, group_wait 0s); opsd stopped → webhook \(downLatency) (for: 2s); repair → resolved \(resolveLatency); total \(ContinuousClock.now - started)")

        for daemon in daemons.values { daemon.signal(SIGTERM) }
        for (index, daemon) in daemons.sorted(by: { $0.key < $1.key }) {
            let status = await daemon.exitStatus()
            // A crash report is long: its first lines (the reason, the crashed thread) and opsd's last log lines say most.
            let crash = daemon.log.split(separator: "\n").filter { !$0.hasPrefix("{") }.prefix(40).joined(separator: "\n")
            let last = daemon.log.split(separator: "\n").filter { $0.hasPrefix("{") }.suffix(15).joined(separator: "\n")
            #expect(status == 0, "o\(index) exited \(status):\n\(last)\n\(crash)")
        }
        try? FileManager.default.removeItem(atPath: scratch.path)
    }
}

/// Creates an empty file at `path`: a flag that breaks a member, or a log.
private func touch(_ path: String) throws {
    guard FileManager.default.createFile(atPath: path, contents: nil) else { throw TestFailure("cannot create \(path)") }
}

/// GET `url` and parse its JSON object; nil while the server does not answer.
private func getJSON(_ url: String) async throws -> [String: Any]? {
    let result = try await run("/usr/bin/curl", ["-sf", "--max-time", "5", url])
    guard result.status == 0 else { return nil }
    return try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any]
}

/// Every alert the webhook receiver recorded so far (Alertmanager's webhook JSON, version 4).
private func deliveries(_ record: String) -> Set<Delivered> {
    let lines = ((try? String(contentsOfFile: record, encoding: .utf8)) ?? "").split(separator: "\n")
    return Set(lines.flatMap { line -> [Delivered] in
        guard let entry = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
              let body = entry["body"] as? [String: Any], let alerts = body["alerts"] as? [[String: Any]] else { return [] }
        return alerts.compactMap { alert in
            guard let labels = alert["labels"] as? [String: String], let status = alert["status"] as? String else { return nil }
            return Delivered(alertname: labels["alertname"] ?? "", instance: labels["instance"] ?? "(none)", status: status)
        }
    })
}
