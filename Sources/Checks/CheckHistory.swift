import FoundationEssentials
import Glibc
public import StateStore

/// The results of every check, in opsd's state database, bounded per check.
///
/// Each check keeps its newest `keep` results; older ones are deleted as new ones arrive, so the
/// table's size follows the number of checks, not the daemon's uptime. Every statement runs
/// through the state database's owner: on the blocking thread pool, one call at a time, so a
/// slow disk does not block the event loops that run the daemon's tasks.
public final class CheckHistory: Sendable {
    private let database: StateDatabase
    /// Results kept per check.
    public let keep: Int

    /// The schema, as a named migration of the shared state database.
    static let schema = StateSchema("checks", migrations: [
        .init("checks.1", """
            CREATE TABLE check_results (
                id INTEGER PRIMARY KEY,
                check_name TEXT NOT NULL,
                time REAL NOT NULL,            -- seconds since 1970 when the run started
                state TEXT NOT NULL,           -- this run's state
                confirmed TEXT,                -- the confirmed state after this run (NULL: pending)
                value REAL,
                unit TEXT,
                duration REAL NOT NULL,        -- seconds
                message TEXT NOT NULL
            );
            CREATE INDEX check_results_by_check ON check_results (check_name, id);
            """),
    ])

    /// The history in `database`; its table is created before its first use.
    public init(database: StateDatabase, keep: Int = 1000) {
        self.database = database
        self.keep = keep
    }

    /// Appends one result and drops the check's results beyond `keep`.
    public func append(check: String, result: CheckResult, confirmed: CheckState?) async throws {
        let keep = self.keep
        try await onQueue { database in
            try database.transaction {
                try database.run(
                    "INSERT INTO check_results (check_name, time, state, confirmed, value, unit, duration, message) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    check, result.time.timeIntervalSince1970, result.state.rawValue, confirmed?.rawValue, result.value, result.unit,
                    result.durationSeconds, result.message
                )
                try database.run("""
                    DELETE FROM check_results WHERE check_name = ?1 AND id <=
                        (SELECT id FROM check_results WHERE check_name = ?1 ORDER BY id DESC LIMIT 1 OFFSET ?2)
                    """, check, keep)
            }
        }
    }

    /// The newest results of one check, newest first.
    public func recent(check: String, limit: Int = 20) async throws -> [CheckResult] {
        return try await onQueue { database in
            try database.query(
                "SELECT time, state, value, unit, duration, message FROM check_results WHERE check_name = ? ORDER BY id DESC LIMIT ?",
                check, limit
            ).map { row in
                CheckResult(
                    state: CheckState(rawValue: row.string(1) ?? "") ?? .unknown, message: row.string(5) ?? "",
                    value: row.double(2), unit: row.string(3), time: Date(timeIntervalSince1970: row.double(0) ?? 0),
                    durationSeconds: row.double(4) ?? 0
                )
            }
        }
    }

    /// The last confirmed state of every check, so a restarted opsd neither re-sends nor misses alerts.
    public func confirmedStates() async throws -> [String: CheckState] {
        return try await onQueue { database in
            var states: [String: CheckState] = [:]
            let rows = try database.query("""
                SELECT check_name, confirmed FROM check_results
                WHERE id IN (SELECT max(id) FROM check_results GROUP BY check_name)
                """)
            for row in rows {
                if let name = row.string(0), let state = row.string(1).flatMap(CheckState.init(rawValue:)) { states[name] = state }
            }
            return states
        }
    }

    /// How many results are stored for a check.
    public func count(check: String) async throws -> Int {
        return try await onQueue { database in Int(Row(values: [try database.scalar("SELECT count(*) FROM check_results WHERE check_name = ?", check)]).int(0) ?? 0) }
    }

    private func onQueue<T: Sendable>(_ body: @escaping @Sendable (Database) throws -> T) async throws -> T {
        try await database.perform(Self.schema, body)
    }
}
