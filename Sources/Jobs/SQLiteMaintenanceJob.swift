import FoundationEssentials
import Glibc
import DaemonRuntime
public import Scheduling
public import OpsConfig
import StateStore

/// Routine care for the application's SQLite databases, in a fixed order: checkpoint (so the
/// WAL stops growing), optimize (fresh planner statistics), vacuum (only inside its window), and
/// an integrity check whose failure fails the run, so it shows in `opsctl jobs` and alerts.
public struct SQLiteMaintenanceJob: JobWork {
    let spec: SQLiteMaintenanceSpec
    let zone: Zone

    /// Maintenance per `spec`; the vacuum window is read on `zone`'s wall clock.
    public init(spec: SQLiteMaintenanceSpec, zone: Zone = .local) {
        self.spec = spec
        self.zone = zone
    }

    public func run(_ context: JobContext) async throws -> String {
        var done: [String] = []
        for path in spec.databases {
            try Task.checkCancellation()
            guard FileManager.default.fileExists(atPath: path) else {
                throw JobFailure("\(path) does not exist; fix the path in the job's sqlite.databases")
            }
            // VACUUM and integrity_check can take minutes: off the event loops that run the daemon.
            let steps = try await onOwnThread(named: "opsd-sqlite-care") { [self] in try maintain(path, context) }
            done.append("\(URL(fileURLWithPath: path).lastPathComponent): " + steps.joined(separator: ", "))
        }
        return done.joined(separator: "; ")
    }

    private func maintain(_ path: String, _ context: JobContext) throws -> [String] {
        let database: Database
        do { database = try Database(path: path, mode: .readWrite, busyTimeout: .seconds(30)) } catch {
            throw JobFailure("cannot open \(path): \(error.message)")
        }
        var steps: [String] = []
        do {
            if spec.checkpoint {
                // Returns (busy, log frames, checkpointed frames); busy=1 means a reader kept it from finishing.
                let row = try database.query("PRAGMA wal_checkpoint(TRUNCATE)").first
                steps.append(row?.int(0) == 1 ? "checkpoint incomplete (busy)" : "checkpoint")
            }
            if spec.optimize {
                try database.execute("PRAGMA optimize")
                steps.append("optimize")
            }
            if spec.vacuum != .none {
                if let window = spec.vacuumWindow, !window.contains(minuteOfDay: minuteOfDay()) {
                    steps.append("vacuum skipped (outside \(window))")
                } else if spec.vacuum == .full {
                    try database.execute("VACUUM")
                    steps.append("vacuum")
                } else {
                    let before = try database.scalar("PRAGMA freelist_count")
                    try database.execute("PRAGMA incremental_vacuum")
                    let mode = try database.scalar("PRAGMA auto_vacuum")
                    if mode != .integer(2) {
                        context.logger.warning("incremental_vacuum does nothing here: the database was not created with auto_vacuum=INCREMENTAL", metadata: ["database": "\(path)"])
                    }
                    steps.append("incremental vacuum (\(Row(values: [before]).int(0) ?? 0) free pages)")
                }
            }
            if spec.integrityCheck {
                let problems = try database.query("PRAGMA integrity_check(20)").compactMap { $0.string(0) }
                guard problems == ["ok"] else {
                    throw JobFailure("integrity_check found problems in \(path): \(problems.prefix(3).joined(separator: "; ")); restore it from a backup")
                }
                steps.append("integrity ok")
            }
        } catch let error as SQLiteError {
            throw JobFailure("\(path): \(error.message)")
        }
        return steps
    }

    private func minuteOfDay() -> Int {
        let now = Int64(Date().timeIntervalSince1970.rounded(.down))
        let wall = now + Int64(zone.offset(at: now))
        return Int(((wall % 86400) + 86400) % 86400 / 60)
    }
}

/// Trims opsd's own history (job runs, check results: every table registered as history).
public struct PruneJob: JobWork {
    let keep: Duration
    let store: JobRunStore

    /// Deletes history older than `keep` through `store`'s database.
    public init(keep: Duration, store: JobRunStore) {
        self.keep = keep
        self.store = store
    }

    public func run(_ context: JobContext) async throws -> String {
        let cutoff = Date().addingTimeInterval(-keep.seconds)
        let deleted = try await store.prune(before: cutoff)
        let total = deleted.values.reduce(0, +)
        return "deleted \(total) row\(total == 1 ? "" : "s") older than \(DurationText.format(keep))"
            + (deleted.isEmpty ? "" : " (" + deleted.sorted { $0.key < $1.key }.map { "\($0.key): \($0.value)" }.joined(separator: ", ") + ")")
    }
}
