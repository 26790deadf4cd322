import FoundationEssentials
import Glibc
import Logging
import OpsConfig
import Scheduling
import DaemonRuntime

/// One run of a job, from its fire time to its record: attempts, timeout, retries with
/// exponential backoff, and the outcome written to the state database.
struct JobRun {
    let job: ScheduledJob
    let scheduled: Date
    let store: JobRunStore
    let logger: Logger
    /// Stamps the record's start and end (the scheduler's clock).
    let clock: any SchedulerClock

    func perform() async -> RunRecord {
        let spec = job.spec
        let start = clock.now()
        let id = try? await store.started(spec.name, scheduled: scheduled, at: start)
        logger.info("run started", metadata: ["scheduled": "\(ISOTime.format(scheduled, in: .utc))"])
        var attempt = 0
        var result = RunResult.failed
        var message = ""
        while true {
            attempt += 1
            do {
                message = try await attemptOnce(attempt)
                result = .ok
                break
            } catch {
                message = "\(error)"
                if Task.isCancelled {
                    result = .interrupted
                    message = "opsd stopped during the run"
                    break
                }
                let retry = spec.retryBackoff.doubling(retries: spec.retries)
                guard retry.allows(retry: attempt) else { break }
                let delay = retry.delay(beforeRetry: attempt)
                logger.warning("attempt \(attempt) failed: \(message); retrying in \(DurationText.format(delay))", metadata: ["attempt": "\(attempt)"])
                do { try await Task.sleep(for: delay, clock: .loop) } catch {
                    result = .interrupted
                    break
                }
            }
        }
        let end = clock.now()
        if let id { try? await store.finished(id, result: result, attempts: attempt, message: message, at: end) }
        let metadata: Logger.Metadata = [
            "result": "\(result.rawValue)", "attempts": "\(attempt)",
            "duration_ms": "\(Int((end.timeIntervalSince(start) * 1000).rounded()))",
        ]
        switch result {
        case .ok: logger.info("run succeeded: \(message)", metadata: metadata)
        case .interrupted: logger.notice("run interrupted: opsd is stopping", metadata: metadata)
        default:
            logger.error("run failed after \(attempt) attempt\(attempt == 1 ? "" : "s"): \(message)", metadata: metadata)
        }
        return RunRecord(scheduledAt: scheduled, startedAt: start, finishedAt: end, result: result, attempts: attempt, message: message)
    }

    /// One attempt, bounded by the job's timeout.
    private func attemptOnce(_ attempt: Int) async throws -> String {
        let context = JobContext(job: job.spec.name, attempt: attempt, logger: logger)
        guard let timeout = job.spec.timeout else { return try await job.work.run(context) }
        let work = job.work
        return try await withThrowingTaskGroup(of: String?.self) { group in
            group.addTask { try await work.run(context) }
            group.addTask {
                try await Task.sleep(for: timeout, clock: .loop)
                return nil
            }
            defer { group.cancelAll() }
            guard let first = try await group.next() else { throw JobFailure("the run ended without a result") }
            guard let summary = first else {
                // The timer won: cancel the work and wait until it has really stopped.
                group.cancelAll()
                while let _ = try? await group.next() {}
                throw JobFailure("timed out after \(DurationText.format(timeout))")
            }
            return summary
        }
    }

    /// The delay before retry `attempt` (1 = the first retry): the backoff's lower bound,
    /// doubling, capped at its upper bound.
    static func retryDelay(after attempt: Int, backoff: DurationRange) -> Duration {
        backoff.doubling().delay(beforeRetry: max(1, attempt))
    }
}
