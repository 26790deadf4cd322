import CSQLite
import FoundationEssentials
import Glibc
import OpsConfig
import Scheduling
import StateStore

/// The health of an application's SQLite database, opened read-only so the check can never
/// change it: `SELECT 1` latency, `PRAGMA quick_check` (stopped at the deadline), the file and
/// WAL sizes (a WAL that keeps growing means checkpoints are starved by long readers), the share
/// of free pages, and optionally a query of the operator's that returns one number.
///
/// A missing, unreadable or corrupt database is CRIT: that is what the check exists to find.
/// The primary value is the query's number when there is a query, else the latency in ms.
public struct SQLiteCheck: Check {
    /// The database file.
    public let path: String
    /// The operator's query, if any.
    public let query: String?

    /// Creates a SQLite check.
    public init(path: String, query: String? = nil) {
        self.path = path
        self.query = query
    }

    public func observe(deadline: ContinuousClock.Instant) async throws -> Observation {
        let path = self.path, query = self.query
        return try await blocking { try Self.measure(path: path, query: query, deadline: deadline) }
    }

    static func measure(path: String, query: String?, deadline: ContinuousClock.Instant) throws -> Observation {
        var info = stat()
        guard stat(path, &info) == 0 else {
            return Observation(summary: "\(path): \(String(cString: strerror(errno)))", state: .crit)
        }
        let fileSize = Double(info.st_size)
        let walSize = stat(path + "-wal", &info) == 0 ? Double(info.st_size) : 0
        let remaining = deadline - ContinuousClock.now
        let database: Database
        do {
            database = try Database(path: path, mode: .readOnly, busyTimeout: max(.milliseconds(10), remaining))
        } catch {
            return Observation(summary: "cannot open \(path): \(error.message)", state: .crit)
        }
        let guardian = DeadlineGuard(deadline: deadline, database: database)
        defer { guardian.release() }
        do {
            let started = ContinuousClock.now
            _ = try database.scalar("SELECT 1")
            let latency = ContinuousClock.now - started
            let latencyMs = latency.seconds * 1000
            // quick_check(1): stop at the first problem; CRIT does not need the whole list.
            let verdict = try database.scalar("PRAGMA quick_check(1)")
            let pages = try database.scalar("PRAGMA page_count")
            let free = try database.scalar("PRAGMA freelist_count")
            let pageCount = Double(Row(values: [pages]).int(0) ?? 0)
            let freeRatio = pageCount > 0 ? Double(Row(values: [free]).int(0) ?? 0) / pageCount * 100 : 0
            var metrics = [
                PerfDatum(label: "latency", value: (latencyMs * 1000).rounded() / 1000, unit: "ms", min: 0),
                PerfDatum(label: "size", value: fileSize, unit: "B", min: 0),
                PerfDatum(label: "wal", value: walSize, unit: "B", min: 0),
                PerfDatum(label: "freelist", value: (freeRatio * 100).rounded() / 100, unit: "%", min: 0, max: 100),
            ]
            let verdictText = Row(values: [verdict]).string(0) ?? "no answer"
            var summary = "\(ByteText.format(fileSize)), WAL \(ByteText.format(walSize)), \(ByteText.percent(freeRatio)) free pages, SELECT 1 in \(NumberText.fixed(latencyMs, digits: 2)) ms"
            guard verdictText == "ok" else {
                return Observation(summary: "quick_check failed: \(verdictText)", metrics: metrics, state: .crit)
            }
            var value = latencyMs, unit = CheckKindDescriptor.sqlite.unit
            if let query {
                guard let number = Row(values: [try database.scalar(query)]).double(0) else {
                    throw CheckFailure("the query returned no number; make it return one value, e.g. SELECT count(*) FROM jobs")
                }
                metrics.insert(PerfDatum(label: "value", value: number), at: 0)
                summary = "query returned \(PerfDatum.number(number)); " + summary
                (value, unit) = (number, "")
            }
            return Observation(value: value, unit: unit, summary: "quick_check ok, " + summary, metrics: metrics)
        } catch let error as SQLiteError {
            if guardian.expired { throw CheckFailure("stopped at the timeout while reading \(path)") }
            if error.isBusy { throw CheckFailure("\(path) stayed locked by another connection: \(error.message)") }
            // Corruption and "not a database" surface here, before or during quick_check.
            return Observation(summary: "\(path): \(error.message)", state: .crit)
        }
    }
}

/// Interrupts the connection's statements once the deadline passes, through SQLite's progress
/// handler: `quick_check` on a large file must not outlive the check's timeout.
private final class DeadlineGuard {
    let deadline: ContinuousClock.Instant
    private let database: Database
    private(set) var expired = false

    init(deadline: ContinuousClock.Instant, database: Database) {
        self.deadline = deadline
        self.database = database
        let context = Unmanaged.passUnretained(self).toOpaque()
        sqlite3_progress_handler(database.handle, 1000, { context in
            guard let context else { return 0 }
            let guardian = Unmanaged<DeadlineGuard>.fromOpaque(context).takeUnretainedValue()
            if ContinuousClock.now >= guardian.deadline { guardian.expired = true }
            return guardian.expired ? 1 : 0
        }, context)
    }

    func release() {
        sqlite3_progress_handler(database.handle, 0, nil, nil)
    }
}
