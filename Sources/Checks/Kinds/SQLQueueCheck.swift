import OpsConfig
import StateStore

/// The backlog of a job table in a SQLite database: a query returning one number.
public struct SQLQueueCheck: Check {
    /// The database file, opened read-only.
    public let path: String
    /// The counting query, e.g. `SELECT count(*) FROM jobs WHERE done = 0`.
    public let query: String

    /// Creates the check.
    public init(path: String, query: String) {
        self.path = path
        self.query = query
    }

    public func observe(deadline: ContinuousClock.Instant) async throws -> Observation {
        let path = self.path, query = self.query
        let remaining = deadline - ContinuousClock.now
        let count: Double = try await blocking {
            do {
                let database = try Database(path: path, mode: .readOnly, busyTimeout: max(.milliseconds(10), remaining))
                guard let number = Row(values: [try database.scalar(query)]).double(0) else {
                    throw CheckFailure("the query on \(path) returned no number; make it return one value, e.g. SELECT count(*) FROM jobs")
                }
                return number
            } catch let error as SQLiteError {
                throw CheckFailure("cannot count the queue in \(path): \(error.message)")
            }
        }
        return Observation(
            value: count, unit: CheckKindDescriptor.queue.unit, summary: "\(PerfDatum.number(count)) \(count == 1 ? "item" : "items") waiting",
            metrics: [PerfDatum(label: "backlog", value: count, min: 0)]
        )
    }
}
