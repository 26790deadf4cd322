import Events
import FoundationEssentials
import Glibc
import Logging
import OpsConfig
import ProcessControl
import Scheduling
import DaemonRuntime

/// One run of a job, from its fire time to its record: attempts, timeout, retries with
/// exponential backoff, the outcome written to the state database, and its events: each attempt
/// cut short by the timeout is `job_timed_out`; the run's end is what its work makes of it
/// (`JobWork.events(for:)`: `job_failed` after the retries, `job_recovered` after a failed run).
struct JobRun {
    let job: ScheduledJob
    let scheduled: Date
    /// Why it runs: only a scheduled run moves the job's phase.
    let cause: RunCause
    let store: JobRunStore
    let logger: Logger
    /// Stamps the record's start and end (the scheduler's clock).
    let clock: any SchedulerClock
    let events: any EventSink
    /// Where a job with `lock:` takes it.
    let locks: JobLocks
    /// The ring the run's output goes to, when its caller follows it (`opsctl jobs run`
    /// streaming); otherwise one of the tail's size.
    var output: OutputRing? = nil

    /// Takes the job's lock when it has one (waiting, or skipping, as `on_lock` says), then runs.
    func perform() async -> RunRecord {
        let spec = job.spec
        guard let lock = spec.lock else { return await attempts() }
        let hold: JobLocks.Hold
        do {
            switch try await locks.acquire(lock, job: spec.name, policy: spec.onLock, logger: logger) {
            case .held(let held): hold = held
            case .busy(let holder):
                return await SkippedRun(job: spec.name, scheduled: scheduled, reason: "lock \(lock) was held by \(holder)", fields: ["lock": lock, "holder": holder])
                    .record(store: store, events: events, logger: logger, line: "skipped: lock \(lock) is held by \(holder)")
            }
        } catch is CancellationError {
            let reason = "opsd stopped while the run waited for lock \(lock)"
            logger.notice("not run: \(reason)")
            try? await store.notStarted(spec.name, scheduled: scheduled, result: .interrupted, reason: reason)
            return RunRecord(scheduledAt: scheduled, result: .interrupted, attempts: 0, message: reason)
        } catch {
            // The lock cannot be taken at all (its file): a failure like any other, alerts included.
            let message = "\(error)"
            logger.error("run failed: \(message)")
            try? await store.notStarted(spec.name, scheduled: scheduled, result: .failed, reason: message)
            for event in job.work.events(for: JobOutcome(job: spec.name, result: .failed, attempts: 1, message: message)) { events.emit(event) }
            return RunRecord(scheduledAt: scheduled, result: .failed, attempts: 0, message: message)
        }
        let record = await attempts()
        await locks.release(hold)
        return record
    }

    /// The run itself: its attempts, record, events and log lines.
    private func attempts() async -> RunRecord {
        let spec = job.spec
        // Before this run's own row exists: the run before it, however long ago opsd started.
        let previous = try? await store.history(of: spec.name, limit: 20, startedOnly: true).first { $0.result == .ok || $0.result == .failed }
        let start = clock.now()
        let id = try? await store.started(spec.name, scheduled: scheduled, at: start, movesPhase: cause == .schedule)
        logger.info("run started", metadata: ["scheduled": "\(ISOTime.format(scheduled, in: .utc))", "cause": "\(cause.rawValue)"])
        var attempt = 0
        var result = RunResult.failed
        var message = ""
        var exit: ExitStatus?
        // One ring for the run: its tail is the last attempt's output, after the earlier ones'.
        let output = self.output ?? RunOutputTail.ring()
        while true {
            attempt += 1
            do {
                message = try await attemptOnce(attempt, output: output)
                result = .ok
                break
            } catch {
                message = "\(error)"
                exit = (error as? JobFailure)?.exit
                if Task.isCancelled {
                    result = .interrupted
                    // How the job took it: finished within its stop timeout, or killed.
                    message = "opsd stopped during the run" + ((error as? JobStopped).map { "; \($0)" } ?? "")
                    break
                }
                let retry = spec.retryBackoff.doubling(retries: spec.retries)
                let delay = retry.allows(retry: attempt) ? retry.delay(beforeRetry: attempt) : nil
                if let timeout = error as? JobTimedOut { timedOut(timeout, attempt: attempt, retryIn: delay) }
                guard let delay else { break }
                logger.warning("attempt \(attempt) failed: \(message); retrying in \(DurationText.format(delay))", metadata: ["attempt": "\(attempt)"])
                do { try await Task.sleep(for: delay, clock: .loop) } catch {
                    result = .interrupted
                    break
                }
            }
        }
        let end = clock.now()
        var environment: [String: String] = [:]
        if case .command(let command) = spec.action { environment = command.environment }
        let tail = RunOutputTail.text(of: output, masking: environment)
        if let id { try? await store.finished(id, result: result, attempts: attempt, message: message, output: tail, at: end) }
        let outcome = JobOutcome(job: spec.name, result: result, attempts: attempt, message: message, exit: exit, previous: previous)
        for event in job.work.events(for: outcome) { events.emit(event) }
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
        return RunRecord(scheduledAt: scheduled, startedAt: start, finishedAt: end, result: result, attempts: attempt, message: message, output: tail)
    }

    /// One attempt, bounded by the job's timeout; a command keeps its output in `output`.
    private func attemptOnce(_ attempt: Int, output: OutputRing) async throws -> String {
        let context = JobContext(job: job.spec.name, attempt: attempt, logger: logger, output: output)
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
                throw JobTimedOut(timeout: timeout)
            }
            return summary
        }
    }

    /// Reports an attempt that the timeout cut short; the run's failure, if this was its last
    /// attempt, is reported with the outcome.
    private func timedOut(_ timeout: JobTimedOut, attempt: Int, retryIn delay: Duration?) {
        let name = job.spec.name
        let next = delay.map { "; retrying in \(DurationText.format($0))" } ?? "; no retries left"
        var fields = ["attempt": "\(attempt)", "timeout_seconds": "\(timeout.timeout.seconds)"]
        if let delay { fields["retry_in_seconds"] = "\(delay.seconds)" }
        events.emit(Event(
            .jobTimedOut, subject: Subject(.job, name),
            message: "job \(name) ran past its timeout of \(DurationText.format(timeout.timeout)) and was stopped\(next)", fields: fields))
    }

    /// The delay before retry `attempt` (1 = the first retry): the backoff's lower bound,
    /// doubling, capped at its upper bound.
    static func retryDelay(after attempt: Int, backoff: DurationRange) -> Duration {
        backoff.doubling().delay(beforeRetry: max(1, attempt))
    }
}

/// A fire time (or a manual run) that did not start: recorded as `skipped` with its reason,
/// logged, and reported as `job_skipped`.
struct SkippedRun {
    let job: String
    let scheduled: Date
    /// Why, as the record and the event say it ("the previous run was still going").
    let reason: String
    var fields: [String: String] = [:]

    func record(store: JobRunStore, events: any EventSink, logger: Logger, line: String) async -> RunRecord {
        let at = ISOTime.format(scheduled, in: .utc)
        logger.warning("\(line)", metadata: ["scheduled": "\(at)"])
        try? await store.notStarted(job, scheduled: scheduled, result: .skipped, reason: reason)
        events.emit(Event(
            .jobSkipped, subject: Subject(.job, job),
            message: "job \(job) skipped its run due at \(at): \(reason)",
            fields: fields.merging(["scheduled": at]) { $1 }))
        return RunRecord(scheduledAt: scheduled, result: .skipped, attempts: 0, message: reason)
    }
}

/// Why a run happens.
enum RunCause: String, Sendable {
    /// A fire time of its schedule (a catch-up included).
    case schedule
    /// `run_at_start`: once as opsd starts.
    case start
    /// `opsctl jobs run`, through opsd or in opsctl's own process.
    case manual
}

/// An attempt the job's timeout cut short.
struct JobTimedOut: Error, CustomStringConvertible {
    let timeout: Duration

    var description: String { "timed out after \(DurationText.format(timeout))" }
}
