@testable import Alerts
import Events
import Foundation
import Logging
import OpsConfig
import Testing
import TestSupport

@Suite("a reload replaces the router")
struct RouterReloadTests {
    @Test("an unchanged route keeps its open conditions across a reload and sends their resolved message; a changed one starts afresh")
    func carriesConditions() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let receiver = try await Receiver(in: directory)
        defer { receiver.stop() }
        let counters = AlertCounters()
        let kept = AlertSpec(name: "kept", target: .webhook(url: receiver.url("/kept")), repeatInterval: .seconds(3600))
        let changed = AlertSpec(name: "changed", target: .webhook(url: receiver.url("/changed")))
        let first = AlertRouter(routes: [kept, changed], senders: senders, counters: counters, logger: Logger(label: "test"), hostname: "testhost")
        let firstDelivery = Task { await first.run() }
        let disk = Subject(.check, "disk-root")
        first.route(event(.checkCrit, disk))
        try await receiver.await(1, at: "/kept")
        try await receiver.await(1, at: "/changed")
        var edited = changed
        edited.sendResolved = true
        edited.limit = BurstLimit(count: 5, window: .seconds(60))
        let second = AlertRouter(
            routes: [kept, edited], senders: senders, counters: counters, logger: Logger(label: "test"), hostname: "testhost", replacing: first
        )
        let secondDelivery = Task { await second.run() }
        defer { secondDelivery.cancel() }
        // The replaced router ends once its queues are sent, and takes no more events.
        await firstDelivery.value
        first.route(event(.workerFatal, Subject(.worker, "web")))
        #expect(second.openConditions["kept"]?[disk]?.repeating == true)
        #expect(second.openConditions["changed"] == nil)
        second.route(event(.checkRecover, disk))
        second.route(event(.jobFailed, Subject(.job, "report")))
        #expect(try await receiver.await(3, at: "/kept").map { $0.json["event"] as? String } == ["check_crit", "check_recover", "job_failed"])
        #expect(try await receiver.await(2, at: "/changed").map { $0.json["event"] as? String } == ["check_crit", "job_failed"])
        try await eventually("the three deliveries are counted") { counters.count(of: "kept").delivered == 3 ? true : nil }
    }
}
