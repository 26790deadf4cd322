import EventLog
import Events
import Foundation
import StateStore
import Testing

@Suite("The event history in the state database")
struct EventHistoryTests {
    private func scratch() throws -> String {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("eventlog-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        return dir
    }

    private func event(_ kind: EventKind, _ name: String, at time: Date = Date(), fields: [String: String] = [:]) -> Event {
        Event(kind, subject: Subject(kind.subjectKind, name), message: "\(kind.rawValue) \(name)", fields: fields, time: time)
    }

    @Test("an event comes back as it was stored, with its fields, severity and subject")
    func roundTrip() async throws {
        let dir = try scratch()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let history = EventHistory(database: try StateDatabase(stateDirectory: dir))
        let time = Date(timeIntervalSince1970: 1_800_000_000.5)
        let stored = event(.checkCrit, "disk-root", at: time, fields: ["state": "crit", "value": "97.5", "unit": "percent"])
        let ids = try await history.append([stored])
        let read = try await history.recent()
        #expect(read == [StoredEvent(id: try #require(ids.first), event: stored)])
        #expect(read.first?.event.severity == .critical)
    }

    @Test("ids only grow, also after every row was trimmed and in a new connection")
    func idsIncrease() async throws {
        let dir = try scratch()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let history = EventHistory(database: try StateDatabase(stateDirectory: dir), keep: 2, maxAge: 3600)
        let first = try await history.append([event(.jobFailed, "a"), event(.jobFailed, "b")])
        #expect(first.count == 2 && first[0] < first[1])
        // c is older than maxAge and a is beyond keep: both trimmed at once, b alone stays.
        let old = Date(timeIntervalSinceNow: -7200)
        let second = try await history.append([event(.jobFailed, "c", at: old)])
        #expect(try await history.recent().map(\.event.subject.name) == ["b"])
        // Every row trimmed: the next id is still larger.
        let aged = EventHistory(database: try StateDatabase(stateDirectory: dir), keep: 2, maxAge: 0)
        try await aged.append([event(.jobFailed, "x", at: old)])
        #expect(try await aged.recent().isEmpty)
        let reopened = EventHistory(database: try StateDatabase(stateDirectory: dir), keep: 2, maxAge: 3600)
        let third = try await reopened.append([event(.jobFailed, "d")])
        #expect(second[0] > first[1] && third[0] > second[0])
        #expect(try await reopened.newestID() == third[0])
    }

    @Test("the history keeps its newest events only, however many arrive")
    func bounded() async throws {
        let dir = try scratch()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let history = EventHistory(database: try StateDatabase(stateDirectory: dir), keep: 5)
        for round in 0..<4 {
            try await history.append((0..<4).map { event(.workerExited, "w\(round)-\($0)") })
        }
        let names = try await history.recent(limit: 100).map(\.event.subject.name)
        #expect(names == ["w2-3", "w3-0", "w3-1", "w3-2", "w3-3"])
    }

    @Test("since, after and limit select the newest matching events, oldest first")
    func filters() async throws {
        let dir = try scratch()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let history = EventHistory(database: try StateDatabase(stateDirectory: dir))
        let base = Date(timeIntervalSinceNow: -600)
        let ids = try await history.append((0..<6).map { event(.checkWarn, "c\($0)", at: base + Double($0) * 60) })
        #expect(try await history.recent(limit: 2).map(\.event.subject.name) == ["c4", "c5"])
        #expect(try await history.recent(after: ids[3]).map(\.event.subject.name) == ["c4", "c5"])
        #expect(try await history.recent(since: base + 150).map(\.event.subject.name) == ["c3", "c4", "c5"])
        #expect(try await history.recent(since: base + 60, after: ids[3], limit: 1).map(\.id) == [ids[5]])
        #expect(try history.recentBlocking(since: base + 270).map(\.event.subject.name) == ["c5"])
    }
}

@Suite("Waking readers of the event history")
struct EventFeedTests {
    @Test("a reader waiting for a newer event wakes when one is stored, not for an older one")
    func wakes() async {
        let feed = EventFeed(newestID: 3)
        async let woken = feed.wait(after: 5, timeout: .seconds(600))
        // The reader may not be waiting yet: storing 5 must not wake it either way, storing 6 must.
        feed.stored(upTo: 5)
        feed.stored(upTo: 6)
        #expect(await woken)
        #expect(feed.newestID == 6)
    }

    @Test("a reader asking for what is already there returns at once; a closed feed ends every wait")
    func immediateAndClosed() async {
        let feed = EventFeed(newestID: 9)
        #expect(await feed.wait(after: 8, timeout: .seconds(600)))
        async let waiting = feed.wait(after: 9, timeout: .seconds(600))
        feed.close()
        #expect(await waiting == false)
        #expect(await feed.wait(after: 9, timeout: .seconds(600)) == false)
    }

    @Test("a wait ends after its timeout with nothing new")
    func timeout() async {
        let feed = EventFeed(newestID: 1)
        #expect(await feed.wait(after: 1, timeout: .milliseconds(20)) == false)
    }
}
