import Foundation
import Logging
import Testing
@testable import Checks
import OpsConfig

@Suite("alerts reach real receivers")
struct AlertTests {
    @Test("a webhook receiver gets exactly one POST per state change, retried when it first answers 500; the URL's secret stays out of the logs")
    func webhook() async throws {
        let scratch = try Scratch()
        defer { scratch.remove() }
        let record = scratch.file("hooks.jsonl")
        let server = try await FixtureServer(scratch: scratch, extra: ["--record", record, "--fail-first", "1"])
        defer { server.stop() }
        let logs = RecordingLogHandler.Store()
        let alerts = AlertDispatcher(
            routes: [AlertSpec(target: .webhook(url: server.url("/hook/T0-SECRET-PATH?token=s3cret")), on: [.crit, .recover])],
            environment: environment, logger: recordingLogger(logs), retryDelays: [.milliseconds(10), .milliseconds(10)], hostname: "testhost"
        )
        let delivery = Task { await alerts.run() }
        defer { delivery.cancel() }
        let monitor = CheckMonitor(specs: [CheckSpec(name: "api", kind: .memory)], history: nil, logger: Logger(label: "test"), onChange: { alerts.send($0) })
        for state in [CheckState.ok, .ok, .crit, .crit, .crit, .ok, .ok] {
            await monitor.record("api", CheckResult(state: state, message: "it is \(state.rawValue)", time: Date(), durationSeconds: 0))
        }
        let lines = try await eventually("two alerts were accepted") { () -> [[String: Any]]? in
            let text = (try? String(contentsOfFile: record, encoding: .utf8)) ?? ""
            let lines = text.split(separator: "\n").compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
            return lines.filter { $0["status"] as? Int == 200 }.count >= 2 ? lines : nil
        }
        #expect(lines.map { $0["status"] as? Int } == [500, 200, 200])
        let bodies = lines.compactMap { $0["body"] as? [String: Any] }
        #expect(bodies.map { $0["event"] as? String } == ["crit", "crit", "recover"])
        #expect(bodies[1]["check"] as? String == "api")
        #expect(bodies[1]["previous_state"] as? String == "ok")
        #expect(bodies[1]["message"] as? String == "it is crit")
        #expect(bodies[1]["host"] as? String == "testhost")
        try await eventually("both deliveries are logged") { logs.all.filter { $0.contains("alert sent") }.count >= 2 ? true : nil }
        #expect(logs.all.contains { $0.hasPrefix("warning alert not delivered; will retry") && $0.contains("route=webhook http://127.0.0.1:\(server.port)/…") })
        #expect(!logs.all.contains { $0.contains("SECRET") || $0.contains("s3cret") }, "\(logs.all)")
    }

    @Test("an exec hook gets OPS_CHECK, OPS_STATE, OPS_MESSAGE in its environment; the rate limit drops the excess")
    func execHook() async throws {
        let scratch = try Scratch()
        defer { scratch.remove() }
        let out = scratch.file("hook.out")
        let alerts = AlertDispatcher(
            routes: [AlertSpec(
                target: .exec(["/bin/sh", "-c", "echo \"$OPS_CHECK $OPS_EVENT $OPS_STATE $OPS_PREVIOUS_STATE $OPS_MESSAGE\" >> \(out)"]),
                limit: BurstLimit(count: 2, window: .seconds(3600))
            )],
            environment: environment, logger: Logger(label: "test")
        )
        let delivery = Task { await alerts.run() }
        defer { delivery.cancel() }
        let result = CheckResult(state: .warn, message: "disk filling", time: Date(), durationSeconds: 0)
        alerts.send(StateChange(check: "disk", kind: "disk", previous: .ok, state: .warn, result: result))
        alerts.send(StateChange(check: "disk", kind: "disk", previous: .warn, state: .ok, result: result))
        alerts.send(StateChange(check: "disk", kind: "disk", previous: .ok, state: .warn, result: result))
        alerts.send(StateChange(check: "disk", kind: "disk", previous: nil, state: .ok, result: result))
        let text = try await eventually("two hooks ran") { () -> String? in
            let text = (try? String(contentsOfFile: out, encoding: .utf8)) ?? ""
            return text.split(separator: "\n").count >= 2 ? text : nil
        }
        #expect(text == "disk warn warn ok disk filling\ndisk recover ok warn disk filling\n")
    }
}
