import FoundationEssentials
import Jobs
import StateStore
import Synchronization

/// The job figures of `/metrics`, read from the job runs in the state database as a scrape asks:
/// runs by result since opsd started (a counter), and each job's newest started run, newest
/// finished run and last success.
///
/// The records are trimmed (1000 per job) and pruned by age, so counting the table would make a
/// "counter" fall; instead each scrape reads only the rows added since the previous one (the
/// first scrape reads them all once, for the "last" figures) and adds them to counts kept here.
/// A run still going is read again until it ends; rows recorded before opsd started (up to
/// `baseline`) set the "last" figures but are not counted. Nothing runs between scrapes.
final class JobRunTally: Sendable {
    /// One recorded run, as far as the metrics need it.
    struct Run: Sendable, Equatable {
        var started: Date?
        var finished: Date?
        var result: RunResult

        /// Wall time from start to end.
        var duration: Double? {
            guard let started, let finished else { return nil }
            return finished.timeIntervalSince(started)
        }
    }

    /// One job's figures.
    struct Job: Sendable, Equatable {
        /// Ended runs since opsd started, by result.
        var counts: [RunResult: Int] = [:]
        /// The newest run that started, with its row id.
        var lastStarted: (id: Int64, run: Run)?
        /// The newest run that started and ended.
        var lastFinished: (id: Int64, run: Run)?
        /// When a run last ended successfully.
        var lastSuccess: Date?

        static func == (lhs: Job, rhs: Job) -> Bool {
            lhs.counts == rhs.counts && lhs.lastStarted?.id == rhs.lastStarted?.id && lhs.lastStarted?.run == rhs.lastStarted?.run
                && lhs.lastFinished?.id == rhs.lastFinished?.id && lhs.lastFinished?.run == rhs.lastFinished?.run
                && lhs.lastSuccess == rhs.lastSuccess
        }
    }

    private struct State {
        /// Every row up to here has been taken into account.
        var cursor: Int64 = 0
        /// Rows above the cursor already counted (ended runs recorded after one still going).
        var counted: Set<Int64> = []
        var jobs: [String: Job] = [:]
    }

    private let store: JobRunStore
    private let baseline: Int64
    private let state = Mutex(State())

    /// A tally of the runs in `store` recorded after row `baseline` (see ``baseline(in:)``).
    init(store: JobRunStore, baseline: Int64) {
        self.store = store
        self.baseline = baseline
    }

    /// The newest job run row id at opsd's start; 0 when there is none (or no job table yet).
    static func baseline(in store: JobRunStore) async -> Int64 {
        (try? await store.newestRunID()) ?? 0
    }

    /// Reads the rows added since the last call and returns every job's figures. A database that
    /// cannot be read leaves the figures as they were.
    func refresh() async -> [String: Job] {
        let cursor = state.withLock { $0.cursor }
        let rows = ((try? await store.runs(after: cursor)) ?? []).map { row in
            RunRow(id: row.id, job: row.job, run: Run(started: row.record.startedAt, finished: row.record.finishedAt, result: row.record.result))
        }
        return state.withLock { state in
            apply(rows, to: &state)
            return state.jobs
        }
    }

    private struct RunRow: Sendable {
        var id: Int64
        var job: String
        var run: Run
    }

    private func apply(_ rows: [RunRow], to state: inout State) {
        var firstRunning: Int64?
        var newest = state.cursor
        // Another scrape may have read the same rows meanwhile: rows at or below its cursor are done.
        for row in rows where row.id > state.cursor {
            newest = max(newest, row.id)
            var job = state.jobs[row.job, default: Job()]
            if row.run.started != nil, row.id >= job.lastStarted?.id ?? 0 { job.lastStarted = (row.id, row.run) }
            if row.run.result == .running {
                firstRunning = firstRunning ?? row.id
            } else if state.counted.insert(row.id).inserted {
                if row.id > baseline { job.counts[row.run.result, default: 0] += 1 }
                if row.run.started != nil, row.id >= job.lastFinished?.id ?? 0 { job.lastFinished = (row.id, row.run) }
                if row.run.result == .ok, let end = row.run.finished, end > job.lastSuccess ?? .distantPast { job.lastSuccess = end }
            }
            state.jobs[row.job] = job
        }
        let cursor = firstRunning.map { $0 - 1 } ?? newest
        if cursor > state.cursor {
            state.cursor = cursor
            state.counted = state.counted.filter { $0 > cursor }
        }
    }
}
