public import Events
public import FoundationEssentials
public import StateStore

/// An event as the history keeps it: with the id the history gave it. Ids only grow, also across
/// trimming and restarts, so a reader that remembers the last id it saw asks for what came after.
public struct StoredEvent: Sendable, Equatable {
    /// The event's place in the history; larger is newer.
    public var id: Int64
    /// The event.
    public var event: Event

    /// Creates a stored event.
    public init(id: Int64, event: Event) {
        self.id = id
        self.event = event
    }
}

/// opsd's events in its state database, bounded: the newest ``keep`` events, none older than
/// ``maxAge``. Trimming happens as events are added, so the table's size has a ceiling whatever
/// the uptime; the prune job may trim it further (the table is registered as history).
///
/// opsd writes through ``append(_:)``; `opsctl events` reads with ``recent(since:after:limit:)``,
/// or with ``recentBlocking(since:after:limit:)`` from its own connection while opsd is down.
public final class EventHistory: Sendable {
    private let database: StateDatabase
    /// The most events kept.
    public let keep: Int
    /// How long an event is kept, in seconds.
    public let maxAge: Double

    /// 10 000 events.
    public static let defaultKeep = 10_000
    /// 30 days.
    public static let defaultMaxAge: Double = 30 * 86_400

    /// The schema, as a named migration of the shared state database. AUTOINCREMENT, so an id is
    /// never given twice even after every row was trimmed: a follower's `after` stays meaningful.
    static let schema = StateSchema("events", migrations: [
        .init("events.1", """
            CREATE TABLE events (
                id INTEGER PRIMARY KEY AUTOINCREMENT,
                time REAL NOT NULL,            -- seconds since 1970
                kind TEXT NOT NULL,            -- EventKind's raw value
                severity TEXT NOT NULL,
                subject_kind TEXT NOT NULL,
                subject TEXT NOT NULL,
                message TEXT NOT NULL,
                fields TEXT NOT NULL           -- a JSON object of strings
            );
            CREATE INDEX events_by_time ON events (time);
            """),
    ], history: [(table: "events", timeColumn: "time")])

    /// The history in `database`; its table is created before its first use.
    public init(database: StateDatabase, keep: Int = EventHistory.defaultKeep, maxAge: Double = EventHistory.defaultMaxAge) {
        self.database = database
        self.keep = max(keep, 1)
        self.maxAge = maxAge
    }

    /// Stores `events` in order, trims the history, and returns their ids.
    @discardableResult
    public func append(_ events: [Event], now: Date = Date()) async throws -> [Int64] {
        let keep = self.keep, cutoff = now.timeIntervalSince1970 - maxAge
        return try await database.perform(Self.schema) { database in
            try database.transaction {
                var ids: [Int64] = []
                for event in events {
                    try database.run(
                        "INSERT INTO events (time, kind, severity, subject_kind, subject, message, fields) VALUES (?, ?, ?, ?, ?, ?, ?)",
                        event.time.timeIntervalSince1970, event.kind.rawValue, event.severity.rawValue,
                        event.subject.kind.rawValue, event.subject.name, event.message, Self.encode(event.fields)
                    )
                    ids.append(database.lastInsertRowID)
                }
                if let newest = ids.last {
                    try database.run("DELETE FROM events WHERE id <= ? OR time < ?", newest - Int64(keep), cutoff)
                }
                return ids
            }
        }
    }

    /// The newest `limit` events with an id above `after` and a time at or after `since`, oldest first.
    public func recent(since: Date? = nil, after: Int64? = nil, limit: Int = 100) async throws -> [StoredEvent] {
        try await database.perform(Self.schema) { database in try Self.select(database, since: since, after: after, limit: limit) }
    }

    /// ``recent(since:after:limit:)`` on the calling thread: for opsctl reading alone.
    public func recentBlocking(since: Date? = nil, after: Int64? = nil, limit: Int = 100) throws -> [StoredEvent] {
        try database.performBlocking(Self.schema) { database in try Self.select(database, since: since, after: after, limit: limit) }
    }

    /// The id of the newest event stored, 0 when there is none.
    public func newestID() async throws -> Int64 {
        try await database.perform(Self.schema) { database in
            Row(values: [try database.scalar("SELECT coalesce(max(id), 0) FROM events")]).int(0) ?? 0
        }
    }

    private static func select(_ database: Database, since: Date?, after: Int64?, limit: Int) throws -> [StoredEvent] {
        let rows = try database.query("""
            SELECT id, time, kind, severity, subject_kind, subject, message, fields FROM events
            WHERE id > ? AND time >= ? ORDER BY id DESC LIMIT ?
            """, after ?? 0, since?.timeIntervalSince1970 ?? -Double.greatestFiniteMagnitude, max(limit, 0))
        // A kind or subject this version does not know (written by a newer opsd) is left out.
        return rows.reversed().compactMap { row -> StoredEvent? in
            guard let id = row.int(0), let kind = row.string(2).flatMap(EventKind.init(rawValue:)),
                  let subjectKind = row.string(4).flatMap(Subject.Kind.init(rawValue:))
            else { return nil }
            let event = Event(
                kind, subject: Subject(subjectKind, row.string(5) ?? ""),
                severity: row.string(3).flatMap(Severity.init(rawValue:)), message: row.string(6) ?? "",
                fields: decode(row.string(7)), time: Date(timeIntervalSince1970: row.double(1) ?? 0)
            )
            return StoredEvent(id: id, event: event)
        }
    }

    private static func encode(_ fields: [String: String]) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        return (try? encoder.encode(fields)).map { String(decoding: $0, as: UTF8.self) } ?? "{}"
    }

    private static func decode(_ text: String?) -> [String: String] {
        guard let text else { return [:] }
        return (try? JSONDecoder().decode([String: String].self, from: Data(text.utf8))) ?? [:]
    }
}
