@testable import Alerts
import Events
import Foundation
import Logging
import OpsConfig
import ProcessControl
import Testing
import TestSupport

@Suite("resolved messages, repeats, and receivers that are down")
struct ConditionTests {
    @Test("a condition that stays bad is sent again every repeat:, the ok event that ends it goes to the routes that sent it, and then no timer is left")
    func resolvedAndRepeat() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let receiver = try await Receiver(in: directory)
        defer { receiver.stop() }
        let disk = Subject(.check, "disk-root")
        let (router, delivery) = startRouter([
            // A second between repeats: shorter, a loaded machine's slow deliveries let repeats
            // pile up in the queue ahead of the resolved message (seen in CI).
            AlertSpec(name: "pager", target: .webhook(url: receiver.url("/pager")), repeatInterval: .seconds(1)),
            AlertSpec(name: "quiet", target: .webhook(url: receiver.url("/quiet")), sendResolved: false),
            AlertSpec(name: "api-only", target: .webhook(url: receiver.url("/api")), subjects: SubjectSelection(checks: [glob("api")], workers: [glob("*")])),
        ])
        defer { delivery.cancel() }
        router.route(event(.checkCrit, disk))
        let repeated = try await receiver.await(3, at: "/pager")
        #expect(repeated.prefix(3).map { $0.json["repeat"] as? Int } == [0, 1, 2])
        #expect(repeated.prefix(3).allSatisfy { $0.json["status"] as? String == "firing" && $0.json["event"] as? String == "check_crit" })
        router.route(event(.checkRecover, disk))
        // Sent after the recovery to every route: when it arrives, the recovery was sent before it.
        router.route(event(.workerFatal, Subject(.worker, "web")))
        let pager = try await eventually("the pager route got the resolved message and the sentinel") { () -> [Received]? in
            let got = receiver.received(at: "/pager")
            return got.last?.json["event"] as? String == "worker_fatal" ? got : nil
        }
        // The crit and its repeats, the resolved message, then the sentinel (which, a bad
        // condition itself, may have repeated already on a loaded machine).
        let kinds = pager.map { $0.json["event"] as? String }
        let end = try #require(kinds.firstIndex { $0 != "check_crit" }, "\(kinds)")
        let resolved = pager[end].json
        #expect(resolved["event"] as? String == "check_recover", "\(kinds)")
        #expect(resolved["status"] as? String == "resolved")
        #expect(kinds[(end + 1)...].allSatisfy { $0 == "worker_fatal" }, "\(kinds)")
        #expect(router.openConditions["pager"]?[disk] == nil, "no repeat timer is left for a resolved condition")
        // send_resolved: false: the crit, then the sentinel, no resolved message.
        let quiet = try await receiver.await(2, at: "/quiet")
        #expect(quiet.map { $0.json["event"] as? String } == ["check_crit", "worker_fatal"])
        // A route that never sent the crit gets no resolved message either.
        #expect(try await receiver.await(1, at: "/api").map { $0.json["event"] as? String } == ["worker_fatal"])
        // The worker's condition repeats on the pager route until it ends; ending it leaves no timer.
        router.route(event(.workerRecovered, Subject(.worker, "web")))
        try await eventually("the worker's resolved message arrived") {
            receiver.received(at: "/pager").contains { $0.json["event"] as? String == "worker_recovered" } ? true : nil
        }
        #expect(router.openConditions.values.allSatisfy { $0.isEmpty })
    }

    @Test("an event the route does not take stops the repeats of a condition, which still resolves")
    func staleConditionStopsRepeating() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let receiver = try await Receiver(in: directory)
        defer { receiver.stop() }
        let disk = Subject(.check, "disk-root")
        let (router, delivery) = startRouter([
            AlertSpec(name: "crit", target: .webhook(url: receiver.url("/crit")), on: [.checkCrit], repeatInterval: .milliseconds(50)),
        ])
        defer { delivery.cancel() }
        router.route(event(.checkCrit, disk))
        try await receiver.await(2, at: "/crit")
        router.route(event(.checkWarn, disk))
        #expect(router.openConditions["crit"]?[disk]?.repeating == false)
        router.route(event(.checkRecover, disk))
        let got = try await eventually("the resolved message arrived") { () -> [Received]? in
            let got = receiver.received(at: "/crit")
            return got.last?.json["event"] as? String == "check_recover" ? got : nil
        }
        #expect(got.dropLast().allSatisfy { $0.json["event"] as? String == "check_crit" })
        #expect(router.openConditions["crit"]?.isEmpty ?? true)
    }

    @Test("a repeat is skipped while the condition's last message still waits for a receiver that hangs: it does not fill the queue")
    func noRepeatsPileUp() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let receiver = try await Receiver(in: directory)
        defer { receiver.stop() }
        let counters = AlertCounters()
        let disk = Subject(.check, "disk-root")
        let (router, delivery) = startRouter([
            AlertSpec(name: "down", target: .webhook(url: receiver.url("/hang/x")), repeatInterval: .milliseconds(20)),
            // The clock: the same repeats, to a receiver that answers.
            AlertSpec(name: "up", target: .webhook(url: receiver.url("/up")), repeatInterval: .milliseconds(20)),
        ], counters: counters, queueCapacity: 4)
        defer { delivery.cancel() }
        router.route(event(.checkCrit, disk))
        // The crit is in flight on the hanging route, unanswered; a second message waits queued.
        try await receiver.await(1, at: "/hang/x")
        // Twenty repeat intervals later (as the answering route counts them)…
        try await receiver.await(20, at: "/up")
        // …the hanging route queued one repeat behind its first message and no more: nothing
        // dropped. (On a machine so loaded that the first message's attempt timed out, the
        // repeat behind it left the queue, and one more could take its place.)
        let down = counters.count(of: "down")
        #expect(down.dropped == 0, "\(down)")
        let repeats = router.openConditions["down"]?[disk]?.repeats ?? 0
        #expect(repeats <= 1 + down.failed + down.delivered, "\(repeats) repeats, \(down)")
        #expect(router.openConditions["down"]?[disk]?.repeating == true)
    }

    @Test("a receiver that hangs fills only its own bounded queue: emission goes on, other routes get everything, drops are counted")
    func downReceiver() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let receiver = try await Receiver(in: directory)
        defer { receiver.stop() }
        let counters = AlertCounters()
        let (router, delivery) = startRouter([
            AlertSpec(name: "down", target: .webhook(url: receiver.url("/hang/x")), on: [.jobFailed]),
            AlertSpec(name: "up", target: .webhook(url: receiver.url("/up")), on: [.jobFailed]),
        ], counters: counters, queueCapacity: 2)
        defer { delivery.cancel() }
        let jobs = (0..<10).map { Subject(.job, "job\($0)") }
        router.route(event(.jobFailed, jobs[0]))
        // The first alert is in flight (the receiver holds it unanswered); the next two wait in
        // the queue, and the seven after them push the oldest out. Each event is routed once the
        // up route has delivered the one before, so its own queue of two never overflows.
        try await receiver.await(1, at: "/hang/x")
        try await receiver.await(1, at: "/up")
        for (index, job) in jobs.enumerated().dropFirst() {
            router.route(event(.jobFailed, job))
            try await receiver.await(index + 1, at: "/up")
        }
        let up = receiver.received(at: "/up")
        #expect(up.map { ($0.json["subject"] as? [String: Any])?["name"] as? String } == jobs.map(\.name))
        try await eventually("the up route counted its deliveries") { counters.count(of: "up").delivered == 10 ? true : nil }
        // The hanging route delivered nothing and dropped what its queue of two could not hold:
        // seven when the first alert stays in flight throughout; on a machine so loaded that the
        // test outlasts the first alert's retries (10 s per attempt), that one counts as failed
        // and a queued one takes its place, so fewer are dropped.
        let down = counters.count(of: "down")
        #expect(down.delivered == 0 && down.dropped >= 1 && down.dropped + down.failed <= 9, "\(down)")
        if down.failed == 0 { #expect(down.dropped == 7, "\(down)") }
        #expect(counters.snapshot.map(\.route) == ["down", "up"])
        let hung = receiver.received(at: "/hang/x").map { ($0.json["subject"] as? [String: Any])?["name"] as? String }
        #expect(hung.first == "job0", "\(hung)")
    }

    @Test("a webhook answering 500 is retried, then counted as failed; the URL's secret path and query stay out of the logs; the rate limit drops the excess")
    func retriesFailuresAndLimit() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let receiver = try await Receiver(in: directory)
        defer { receiver.stop() }
        let logs = RecordingLogHandler.Store()
        let counters = AlertCounters()
        let path = "/fail/3/T0-SECRET-PATH?token=s3cret"
        let (router, delivery) = startRouter([
            AlertSpec(name: "flaky", target: .webhook(url: receiver.url(path)), on: [.jobFailed], limit: BurstLimit(count: 2, window: .seconds(3600))),
        ], counters: counters, logger: Logger(label: "test") { _ in RecordingLogHandler(store: logs) },
        // Every attempt must reach the receiver, even when the whole suite keeps both cores busy:
        // an attempt cut short by the 10 s timeout never arrives, and the four answers never come.
        senders: AlertSenders(commands: CommandRunner(spawner: DirectSpawner()), retryDelays: [.milliseconds(10)], webhookTimeout: .seconds(120)))
        defer { delivery.cancel() }
        // Two attempts each (one retry): the first alert meets 500, 500; the second 500, then 200.
        for name in ["a", "b", "c"] { router.route(event(.jobFailed, Subject(.job, name))) }
        let got = try await receiver.await(4, at: path)
        #expect(got.map(\.status) == [500, 500, 500, 200])
        try await eventually("both alerts are counted") {
            let count = counters.count(of: "flaky")
            return count.delivered + count.failed == 2 ? count : nil
        }
        #expect(counters.count(of: "flaky") == AlertDeliveryCount(route: "flaky", delivered: 1, failed: 1, dropped: 1))
        #expect(logs.all.contains { $0.hasPrefix("warning alert dropped: the route's rate limit is reached") })
        #expect(logs.all.contains { $0.hasPrefix("error alert not delivered; giving up") && $0.contains("receiver=webhook http://127.0.0.1:\(receiver.port)/…") })
        #expect(!logs.all.contains { $0.contains("SECRET") || $0.contains("s3cret") }, "\(logs.all)")
    }
}
