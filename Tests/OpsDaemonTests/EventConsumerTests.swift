import ControlPlane
import EventLog
import Events
import Foundation
import Logging
import OpsAPI
@testable import OpsDaemon
import OpsConfig
import ServiceLifecycle
import StateStore
import Synchronization
import Systemd
import Testing
import TestSupport

/// A log handler that keeps what it is given: the journal consumer's entries, as journald's
/// handler would receive them (its `OPS_` fields are the metadata's keys in upper case).
private struct KeepingLogHandler: LogHandler {
    struct Entry: Sendable {
        var level: Logger.Level
        var message: String
        var metadata: [String: String]
    }

    let kept: KeptEntries
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level = .info

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        let fields = (event.metadata ?? [:]).mapValues { "\($0)" }
        kept.entries.withLock { $0.append(Entry(level: event.level, message: "\(event.message)", metadata: fields)) }
    }
}

private final class KeptEntries: Sendable {
    let entries = Mutex<[KeepingLogHandler.Entry]>([])

    /// A logger at `level` whose entries land here.
    func logger(level: Logger.Level) -> Logger {
        var handler = KeepingLogHandler(kept: self)
        handler.logLevel = level
        return Logger(label: "test") { _ in handler }
    }

    var all: [KeepingLogHandler.Entry] { entries.withLock { $0 } }
}

private func scratchDirectory() throws -> String {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("opsd-events-\(UUID().uuidString)").path
    try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    return dir
}

private func event(_ kind: EventKind, _ name: String, fields: [String: String] = [:]) -> Event {
    Event(kind, subject: Subject(kind.subjectKind, name), message: "\(kind.rawValue) \(name)", fields: fields)
}

/// Runs `services` in a service group, hands `body` the group, then shuts it down gracefully and
/// waits for every service to return.
private func withGroup(_ services: [any Service], _ body: () async throws -> Void) async throws {
    let group = ServiceGroup(configuration: ServiceGroupConfiguration(services: services, logger: Logger(label: "group")))
    let running = Task { try await group.run() }
    try await body()
    await group.triggerGracefulShutdown()
    try await running.value
}

@Suite("opsd's event consumers: the journal and the history", .timeLimit(.minutes(3)))
struct EventConsumerTests {
    @Test("the journal gets one entry per event, with OPS_EVENT, the subject, the severity and the fields, whatever the log level")
    func journalEntries() async throws {
        let bus = EventBus()
        let kept = KeptEntries()
        // Subscribed at creation: what is emitted before the service runs is logged too.
        let journal = EventJournalService(bus: bus, logger: kept.logger(level: .error))
        bus.emit(event(.workerExited, "web", fields: ["exit_code": "3", "event": "not the kind"]))
        bus.emit(event(.opsdStarted, "opsd"))
        try await withGroup([journal]) {
            bus.emit(event(.jobRecovered, "nightly"))
        }
        let entries = kept.all
        try #require(entries.count == 3)
        #expect(entries[0].message == "worker_exited web")
        #expect(entries[0].level == .warning)
        #expect(entries[0].metadata == [
            "event": "worker_exited", "severity": "warning", "subject": "web", "subject_kind": "worker", "worker": "web", "exit_code": "3",
        ])
        // info is below the logger's error level, yet logged: events are what someone reads later.
        #expect(entries[1].level == .info)
        #expect(entries[1].metadata["event"] == "opsd_started")
        #expect(entries[1].metadata["subject_kind"] == "daemon")
        #expect(entries[1].metadata["daemon"] == nil)
        #expect(entries[2].level == .notice)
        #expect(entries[2].metadata["job"] == "nightly")
    }

    @Test("the history stores every event with growing ids, wakes followers, and drains its queue on graceful shutdown")
    func historyStoresAndDrains() async throws {
        let dir = try scratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let database = try StateDatabase(stateDirectory: dir)
        let history = EventHistory(database: database)
        let feed = EventFeed()
        let bus = EventBus()
        let service = EventHistoryService(bus: bus, history: history, feed: feed, logger: Logger(label: "test"))
        bus.emit(event(.opsdStarted, "opsd"))
        try await withGroup([service]) {
            bus.emit(event(.workerFatal, "web", fields: ["restarts": "5"]))
            // A follower waiting for anything after the first event is woken by the second.
            #expect(await feed.wait(after: 1, timeout: .seconds(150)))
            for index in 0..<50 { bus.emit(event(.jobSkipped, "job\(index)")) }
            // Shut down at once: the 50 still queued must be stored before the service returns.
        }
        let stored = try await history.recent(limit: 1000)
        #expect(stored.count == 52)
        #expect(stored.map(\.id) == stored.map(\.id).sorted())
        #expect(stored.first?.event.kind == .opsdStarted)
        #expect(stored[1].event.fields == ["restarts": "5"])
        #expect(stored.last?.event.subject.name == "job49")
        #expect(feed.newestID == stored.last?.id)
    }

    @Test("what queues while a write runs is taken in one batch; beyond its capacity the oldest is dropped and counted")
    func pendingBatches() async {
        let pending = PendingEvents(capacity: 2)
        pending.add(event(.jobFailed, "a"))
        pending.add(event(.jobFailed, "b"))
        pending.add(event(.jobFailed, "c"))
        let batch = await pending.next()
        #expect(batch?.0.map(\.subject.name) == ["b", "c"])
        #expect(batch?.1 == 1)
        pending.add(event(.jobFailed, "d"))
        pending.finish()
        #expect(await pending.next()?.0.map(\.subject.name) == ["d"])
        #expect(await pending.next() == nil)
    }
}

@Suite("GET /v1/events", .timeLimit(.minutes(3)))
struct EventsEndpointTests {
    private func endpoint() throws -> (EventsEndpoint, EventHistory, EventFeed, String) {
        let dir = try scratchDirectory()
        let history = EventHistory(database: try StateDatabase(stateDirectory: dir))
        let feed = EventFeed()
        return (EventsEndpoint(history: history, feed: feed), history, feed, dir)
    }

    private func records(_ response: ControlResponse) throws -> [EventRecord] {
        try #require(response.status == 200, "\(String(decoding: response.body, as: UTF8.self))")
        return try response.decode([EventRecord].self)
    }

    @Test("stored events come oldest first with their ids; after, limit and since select")
    func selects() async throws {
        let (endpoint, history, _, dir) = try endpoint()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let old = Event(.jobFailed, subject: Subject(.job, "old"), message: "old", time: Date(timeIntervalSinceNow: -7200))
        let ids = try await history.append([old, event(.workerExited, "web", fields: ["exit_code": "1"]), event(.workerRecovered, "web")])
        let all = try records(await endpoint.handle(query: [:]))
        #expect(all.map(\.id) == ids)
        #expect(all[1] == EventRecord(
            id: ids[1], time: all[1].time, kind: "worker_exited", severity: "warning", subjectKind: "worker", subject: "web",
            message: "worker_exited web", fields: ["exit_code": "1"]))
        #expect(try records(await endpoint.handle(query: ["after": "\(ids[1])"])).map(\.id) == [ids[2]])
        #expect(try records(await endpoint.handle(query: ["limit": "1"])).map(\.id) == [ids[2]])
        #expect(try records(await endpoint.handle(query: ["since": "1h"])).map(\.id) == [ids[1], ids[2]])
        #expect(try records(await endpoint.handle(query: ["since": "2020-01-01T00:00:00Z"])).count == 3)
    }

    @Test("a bad parameter is a 400 that says what to write", arguments: [
        (["since": "yesterday"], "since=yesterday is neither a time nor a duration"),
        (["after": "-1"], "after=-1 is not an event id"),
        (["limit": "0"], "limit=0 must be a whole number from 1 to 10000"),
        (["wait": "61"], "wait=61 must be a whole number of seconds from 0 to 60"),
        (["follow": "1"], "unknown parameter follow"),
    ])
    func badParameters(query: [String: String], problem: String) async throws {
        let (endpoint, _, _, dir) = try endpoint()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let response = await endpoint.handle(query: query)
        #expect(response.status == 400)
        #expect(try response.decode(ErrorBody.self).error.hasPrefix(problem))
    }

    @Test("with wait, the request answers as soon as a newer event is stored, and with 503 once opsd stops")
    func longPoll() async throws {
        let (endpoint, history, feed, dir) = try endpoint()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let first = try await history.append([event(.opsdStarted, "opsd")])[0]
        let poll = Task { await endpoint.handle(query: ["after": "\(first)", "wait": "60"]) }
        // Stored while the request waits (or before it began: it looks at the history first).
        let second = try await history.append([event(.reloadRejected, "opsd")])[0]
        feed.stored(upTo: second)
        #expect(try records(await poll.value).map(\.id) == [second])

        let stopping = Task { await endpoint.handle(query: ["after": "\(second)", "wait": "60"]) }
        feed.close()
        #expect(await stopping.value.status == 503)
    }
}

@Suite("opsd's own events", .timeLimit(.minutes(3)))
struct DaemonEventTests {
    @Test("opsd_started after READY, opsd_stopping when shutdown begins, and the followers are let go then")
    func startedAndStopping() async throws {
        let bus = EventBus()
        let stream = bus.subscribe("test")
        let letGo = Mutex(false)
        let readiness = ReadinessService(
            summary: { "2 workers" }, gates: [], notifier: SystemdNotifier(environment: [:]), events: bus,
            stopping: { letGo.withLock { $0 = true } }, logger: Logger(label: "test")
        )
        var iterator = stream.makeAsyncIterator()
        try await withGroup([readiness]) {
            let started = await iterator.next()
            #expect(started?.kind == .opsdStarted)
            #expect(started?.severity == .info)
            #expect(started?.message.contains("2 workers") == true)
            #expect(!letGo.withLock { $0 })
        }
        #expect(await iterator.next()?.kind == .opsdStopping)
        #expect(letGo.withLock { $0 })
    }

    @Test("a rejected reload is a reload_rejected event with the problems' count; an applied one is none")
    func reloadRejected() async throws {
        let dir = try scratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/ops.yaml"
        try "daemon:\n  socket: \(dir)/opsd.sock\n  state_dir: \(dir)/state\n".write(toFile: path, atomically: true, encoding: .utf8)
        let bus = EventBus()
        let stream = bus.subscribe("test")
        let state = DaemonState(configuration: try ConfigLoader.load(path: path), configPath: path, logger: Logger(label: "test"))
        let reloader = Reloader(
            state: state, apply: { _ in }, summary: { "" }, notifier: SystemdNotifier(environment: [:]), events: bus, logger: Logger(label: "test")
        )
        #expect(await reloader.reload(trigger: "test").isApplied)
        try "daemon:\n  socket: \(dir)/opsd.sock\n  state_dir: \(dir)/state\nworkers: 7\nbogus: 1\n".write(toFile: path, atomically: true, encoding: .utf8)
        #expect(!(await reloader.reload(trigger: "SIGHUP")).isApplied)
        bus.finish("test")
        let events = await Array(stream)
        try #require(events.count == 1)
        #expect(events[0].kind == .reloadRejected)
        #expect(events[0].fields["trigger"] == "SIGHUP")
        #expect(events[0].fields["problems"] == "2")
        #expect(events[0].message.contains("the previous configuration stays in force"))
    }

    @Test("the watchdog reports the change to unhealthy once, with the failing probe, and the recovery once")
    func probeEvents() async throws {
        let bus = EventBus()
        let stream = bus.subscribe("test")
        let probe = ScriptedProbe(answers: [false, false, true, true])
        let watchdog = WatchdogService(
            interval: .seconds(2), probes: [probe], notifier: SystemdNotifier(environment: [:]), healthyStatus: { "" },
            healthChanged: ProbeHealthEvents(events: bus).changed, logger: Logger(label: "test")
        )
        var iterator = stream.makeAsyncIterator()
        try await withGroup([watchdog]) {
            let unhealthy = await iterator.next()
            #expect(unhealthy?.kind == .probeUnhealthy)
            #expect(unhealthy?.severity == .critical)
            // The probe's failure ("scripted: stuck", or on a loaded machine "scripted: no answer
            // within …"): either way the event names the probe.
            #expect(unhealthy?.message.contains("scripted: ") == true)
            #expect(unhealthy?.fields["failures"] == "1")
            #expect(await iterator.next()?.kind == .probeRecovered)
        }
        bus.finish("test")
        // Nothing repeats a state already reported. (On a loaded machine a later round may miss
        // its probe's deadline: that is a new change, reported once, and its recovery once.)
        var rest: [EventKind] = []
        while let event = await iterator.next() { rest.append(event.kind) }
        #expect(rest.enumerated().allSatisfy { index, kind in kind == (index.isMultiple(of: 2) ? .probeUnhealthy : .probeRecovered) }, "\(rest)")
    }
}

/// A probe that fails or answers as scripted, round by round, then answers.
private final class ScriptedProbe: LivenessProbe {
    private let answers: Mutex<[Bool]>

    init(answers: [Bool]) {
        self.answers = Mutex(answers)
    }

    var name: String { "scripted" }

    func probe() async throws {
        let healthy = answers.withLock { $0.isEmpty ? true : $0.removeFirst() }
        if !healthy { throw TestFailure("stuck") }
    }
}

extension Array where Element == Event {
    init(_ stream: AsyncStream<Event>) async {
        self = []
        for await event in stream { append(event) }
    }
}
