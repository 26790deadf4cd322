@testable import Alerts
import Events
import Foundation
import Logging
import OpsConfig
import Testing
import TestSupport

func event(_ kind: EventKind, _ subject: Subject, _ message: String? = nil, fields: [String: String] = [:]) -> Event {
    Event(kind, subject: subject, message: message ?? "\(subject) \(kind.rawValue)", fields: fields, time: Date(timeIntervalSince1970: 1_800_000_000))
}

func glob(_ text: String) -> NamePattern {
    guard case .success(let pattern) = NamePattern.parse(text) else { fatalError("bad pattern \(text) in a test") }
    return pattern
}

@Suite("alert routes select events by kind, severity and subject, and reach real receivers")
struct RoutingTests {
    @Test("each route gets exactly the events its kinds, severity and name globs select, in order")
    func routing() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let receiver = try await Receiver(in: directory)
        defer { receiver.stop() }
        let (router, delivery) = startRouter([
            AlertSpec(name: "kinds", target: .webhook(url: receiver.url("/kinds")), on: [.workerFatal, .jobFailed, .opsdStopping]),
            AlertSpec(name: "disks", target: .webhook(url: receiver.url("/disks")), severity: .critical, subjects: SubjectSelection(checks: [glob("disk-*")])),
            AlertSpec(name: "web", target: .webhook(url: receiver.url("/web")), subjects: SubjectSelection(workers: [glob("web")], jobs: [glob("*")])),
            AlertSpec(name: "old", target: .webhook(url: receiver.url("/old")), on: [EventKind(named: "crit"), EventKind(named: "recover")].compactMap { $0 }),
        ])
        defer { delivery.cancel() }
        let sequence = [
            event(.checkWarn, Subject(.check, "disk-root")),        // web: no (a check); disks: below critical; old: not crit
            event(.checkCrit, Subject(.check, "disk-root")),        // disks, old
            event(.checkCrit, Subject(.check, "api")),              // old (disks: not disk-*)
            event(.workerFatal, Subject(.worker, "web")),           // kinds, web
            event(.workerFatal, Subject(.worker, "queue")),         // kinds
            event(.workerExited, Subject(.worker, "web")),          // web (warning, default severity)
            event(.jobSkipped, Subject(.job, "report")),            // nobody: info, and web's default floor is warning
            event(.jobFailed, Subject(.job, "report")),             // kinds, web
            event(.backupFailed, Subject(.backup, "nightly")),      // web (jobs: ["*"] takes the backup job)
            event(.checkRecover, Subject(.check, "api")),           // old (listed), and resolved nowhere else
            event(.opsdStopping, .daemon),                          // kinds (listed, info)
        ]
        for item in sequence { router.route(item) }
        func kinds(_ path: String, _ count: Int) async throws -> [String] {
            try await receiver.await(count, at: path).map { ($0.json["event"] as? String ?? "") + " " + (($0.json["subject"] as? [String: Any])?["name"] as? String ?? "") }
        }
        #expect(try await kinds("/kinds", 4) == ["worker_fatal web", "worker_fatal queue", "job_failed report", "opsd_stopping opsd"])
        #expect(try await kinds("/disks", 1) == ["check_crit disk-root"])
        #expect(try await kinds("/web", 4) == ["worker_fatal web", "worker_exited web", "job_failed report", "backup_failed nightly"])
        #expect(try await kinds("/old", 3) == ["check_crit disk-root", "check_crit api", "check_recover api"])
        // Every route has sent its last alert of the sequence: nothing more is on its way.
        #expect(receiver.received.count == 12)
    }

    @Test("json carries the versioned body, slack a {text} and discord a {content} body with the same line")
    func formats() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let receiver = try await Receiver(in: directory)
        defer { receiver.stop() }
        let (router, delivery) = startRouter([
            AlertSpec(name: "json", target: .webhook(url: receiver.url("/json")), format: .json),
            AlertSpec(name: "slack", target: .webhook(url: receiver.url("/slack")), format: .slack),
            AlertSpec(name: "discord", target: .webhook(url: receiver.url("/discord")), format: .discord),
        ])
        defer { delivery.cancel() }
        router.route(event(.checkCrit, Subject(.check, "disk-root"), "check disk-root is CRITICAL: / is 93% full",
                           fields: ["state": "crit", "previous_state": "ok", "value": "93", "unit": "%", "check_kind": "disk"]))
        let json = try #require(try await receiver.await(1, at: "/json").first?.json)
        #expect(json["version"] as? Int == 1)
        #expect(json["event"] as? String == "check_crit")
        #expect(json["severity"] as? String == "critical")
        #expect(json["status"] as? String == "firing")
        #expect(json["repeat"] as? Int == 0)
        #expect(json["subject"] as? [String: String] == ["kind": "check", "name": "disk-root"])
        #expect(json["message"] as? String == "check disk-root is CRITICAL: / is 93% full")
        #expect(json["fields"] as? [String: String] == ["state": "crit", "previous_state": "ok", "value": "93", "unit": "%", "check_kind": "disk"])
        #expect(json["time"] as? String == "2027-01-15T08:00:00Z")
        #expect(json["host"] as? String == "testhost")
        #expect(json["route"] as? String == "json")
        #expect(Set(json.keys) == ["version", "event", "severity", "status", "repeat", "subject", "message", "fields", "time", "host", "route"])
        let line = "[CRITICAL] testhost: check disk-root is CRITICAL: / is 93% full (check_crit)"
        #expect(try await receiver.await(1, at: "/slack").first?.json as? [String: String] == ["text": line])
        #expect(try await receiver.await(1, at: "/discord").first?.json as? [String: String] == ["content": line])
    }

    @Test("an exec hook gets the JSON body on stdin and the event as OPS_* variables")
    func execHook() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let script = "cat > \(directory.path)/stdin.json; env | grep '^OPS_' | sort > \(directory.path)/env.txt.tmp; mv \(directory.path)/env.txt.tmp \(directory.path)/env.txt"
        let counters = AlertCounters()
        let (router, delivery) = startRouter([AlertSpec(name: "hook", target: .exec(["/bin/sh", "-c", script]))], counters: counters)
        defer { delivery.cancel() }
        router.route(event(.workerFatal, Subject(.worker, "web"), "worker web gave up", fields: ["exit_code": "1", "restarts": "5"]))
        let environment = try await eventually("the hook ran") { try? String(contentsOfFile: directory.file("env.txt"), encoding: .utf8) }
        let variables = Dictionary(environment.split(separator: "\n").map { line -> (String, String) in
            let parts = line.split(separator: "=", maxSplits: 1)
            return (String(parts[0]), parts.count > 1 ? String(parts[1]) : "")
        }) { $1 }
        #expect(variables["OPS_EVENT"] == "worker_fatal")
        #expect(variables["OPS_SEVERITY"] == "critical")
        #expect(variables["OPS_STATUS"] == "firing")
        #expect(variables["OPS_SUBJECT_KIND"] == "worker")
        #expect(variables["OPS_SUBJECT"] == "web")
        #expect(variables["OPS_WORKER"] == "web")
        #expect(variables["OPS_MESSAGE"] == "worker web gave up")
        #expect(variables["OPS_EXIT_CODE"] == "1")
        #expect(variables["OPS_RESTARTS"] == "5")
        #expect(variables["OPS_HOST"] == "testhost")
        #expect(variables["OPS_ROUTE"] == "hook")
        #expect(variables["OPS_REPEAT"] == "0")
        #expect(variables["OPS_VERSION"] == "1")
        #expect(variables["OPS_TIME"] == "2027-01-15T08:00:00Z")
        let stdin = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: directory.file("stdin.json")))) as? [String: Any])
        #expect(stdin["event"] as? String == "worker_fatal")
        #expect(stdin["version"] as? Int == 1)
        #expect(stdin["fields"] as? [String: String] == ["exit_code": "1", "restarts": "5"])
        try await eventually("the delivery is counted") { counters.count(of: "hook").delivered == 1 ? true : nil }
    }
}
