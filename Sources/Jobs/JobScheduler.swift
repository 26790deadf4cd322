public import DaemonRuntime
public import Events
public import FoundationEssentials
import Glibc
public import Logging
public import OpsConfig
import Scheduling
public import ServiceLifecycle

/// A job as the scheduler runs it: its spec (timing, retries, what it is) and its work.
public struct ScheduledJob: Sendable {
    /// Timing and policy; compared on reload to tell changed jobs from unchanged ones.
    public let spec: JobSpec
    /// What runs when it fires.
    public let work: any JobWork

    /// Pairs a spec with its work.
    public init(spec: JobSpec, work: any JobWork) {
        self.spec = spec
        self.work = work
    }
}

/// What `opsctl jobs` shows for one job.
public struct JobSnapshot: Sendable {
    /// The job's spec.
    public let spec: JobSpec
    /// The next fire time, if one is planned.
    public let nextRun: Date?
    /// Whether a run is going on now.
    public let running: Bool
}

/// opsd's one scheduler: every periodic thing (jobs, the backup schedule) fires from here.
///
/// Each job has its own loop task, which sleeps until the next fire time and then starts a run
/// as a separate task, so a long run never delays the loop's view of time. The rules operators
/// rely on (see `docs/scheduling.md`):
/// - never twice at once: a fire time that finds the previous run still going is skipped and
///   recorded as `skipped`;
/// - coalescing: however many fire times passed (a suspended machine, a stalled process), one
///   run happens, and the next fire time is computed from now;
/// - `misfire_grace`: a run that would start later than this after its fire time is `missed`;
/// - restarts: the last fire time is stored when a scheduled run starts (not a manual or
///   `run_at_start` one, which never move an interval's phase); a restarted opsd continues after
///   it, and with `catch_up` runs once at start if a fire time passed while it was down;
/// - `run_at_start`: one run as opsd starts, outside the schedule; a reload never runs it;
/// - `lock:`: runs of jobs sharing a lock name never overlap (`JobLocks`), manual runs included.
///
/// Skipped fire times become `job_skipped` events; each run reports its own (`JobRun`).
public actor JobScheduler: Service {
    private struct Loop {
        let job: ScheduledJob
        let task: Task<Void, Never>
    }

    private let store: JobRunStore
    private let logger: Logger
    private let clock: any SchedulerClock
    private let events: any EventSink
    /// The `lock:` names, shared by every run this scheduler starts.
    private let locks: JobLocks
    private var loops: [String: Loop] = [:]
    private var order: [String] = []
    private var nextRuns: [String: Date] = [:]
    private var runs: [String: Task<RunRecord, Never>] = [:]
    private var started = false
    private var pending: [ScheduledJob]

    /// A scheduler for `jobs`, recording into `store`, keeping time by `clock`, reporting failures,
    /// timeouts, skips and recoveries to `events`. Nothing runs before `run()`.
    public init(
        jobs: [ScheduledJob], store: JobRunStore, logger: Logger, clock: any SchedulerClock = WallClock(),
        events: any EventSink = DiscardingEventSink()
    ) {
        self.pending = jobs
        self.store = store
        self.logger = logger
        self.clock = clock
        self.events = events
        self.locks = JobLocks(store: store)
    }

    /// Starts every job's loop and runs until graceful shutdown; then cancels the loops and
    /// waits for running jobs to stop (a command job gets its stop signal, then KILL).
    public func run() async throws {
        if let interrupted = try? await store.markInterrupted(), interrupted > 0 {
            logger.warning("runs were cut short by an earlier opsd exit", metadata: ["runs": "\(interrupted)"])
        }
        started = true
        for job in pending { startLoop(job, atStart: true) }
        pending = []
        try? await gracefulShutdown()
        await stopAll()
    }

    /// Replaces the job list (on reload): removed and changed jobs stop, new and changed ones
    /// start; unchanged jobs keep their loop and their next fire time. Returns the names touched.
    @discardableResult
    public func apply(_ jobs: [ScheduledJob]) async -> [String] {
        guard started else {
            pending = jobs
            return jobs.map(\.spec.name)
        }
        let wanted = Dictionary(jobs.map { ($0.spec.name, $0) }, uniquingKeysWith: { first, _ in first })
        var touched: [String] = []
        for name in order where wanted[name] == nil || wanted[name]?.spec != loops[name]?.job.spec {
            await stop(name)
            touched.append(name)
        }
        for job in jobs where loops[job.spec.name] == nil {
            // `run_at_start` means opsd's start: a job a reload adds or changes waits for its schedule.
            startLoop(job, atStart: false)
            if !touched.contains(job.spec.name) { touched.append(job.spec.name) }
        }
        order = jobs.map(\.spec.name)
        if !touched.isEmpty { logger.notice("jobs changed by reload", metadata: ["jobs": "\(touched.joined(separator: ", "))"]) }
        return touched
    }

    /// Every job with its next fire time, in config order.
    public func snapshot() -> [JobSnapshot] {
        order.compactMap { name in
            guard let loop = loops[name] else { return nil }
            return JobSnapshot(spec: loop.job.spec, nextRun: nextRuns[name], running: runs[name] != nil)
        }
    }

    /// The run records of one job, newest first.
    public func history(of job: String, limit: Int) async throws -> [RunRecord] {
        try await store.history(of: job, limit: limit)
    }

    /// The newest started run of `job`.
    public func lastRun(of job: String) async -> RunRecord? {
        try? await store.lastRun(of: job)
    }

    /// Answers at once: proof for the watchdog that the actor is not stuck.
    public func heartbeat() {}

    // MARK: Loops

    private func startLoop(_ job: ScheduledJob, atStart: Bool) {
        let name = job.spec.name
        if !order.contains(name) { order.append(name) }
        let task = Task { await self.loop(job, atStart: atStart) }
        loops[name] = Loop(job: job, task: task)
    }

    private func stop(_ name: String) async {
        guard let loop = loops.removeValue(forKey: name) else { return }
        loop.task.cancel()
        runs[name]?.cancel()
        await loop.task.value
        _ = await runs[name]?.value
        nextRuns[name] = nil
    }

    /// Every job at once: each running command gets its stop signal now, so one job's stop
    /// timeout does not come on top of another's.
    private func stopAll() async {
        for name in order.reversed() {
            loops[name]?.task.cancel()
            runs[name]?.cancel()
        }
        for name in order.reversed() { await stop(name) }
    }

    private func loop(_ job: ScheduledJob, atStart: Bool) async {
        let spec = job.spec
        let log = logger.with(job: spec.name)
        var previous = (try? await store.lastFire(of: spec.name)) ?? nil

        if spec.trigger == .startup {
            startRun(job, scheduled: clock.now(), cause: .schedule, logger: log)
            return
        }
        let now = clock.now()
        var ranAtStart = false
        if spec.catchUp, let previous, let due = spec.trigger.latestDue(since: previous, upTo: now) {
            // One run for however many fire times passed; recorded under the latest of them, so a
            // restart right after it finds nothing left to catch up.
            log.notice("catching up a run missed while opsd was down", metadata: ["scheduled": "\(ISOTime.format(due, in: .utc))"])
            await fire(job, scheduled: due, logger: log)
            ranAtStart = true
        }
        if atStart, spec.runAtStart, !ranAtStart {
            // Outside the schedule, like a manual run: the fire times that follow keep their phase.
            log.notice("running at start (run_at_start)")
            startRun(job, scheduled: now, cause: .start, logger: log)
        }
        previous = (try? await store.lastFire(of: spec.name)) ?? previous

        while !Task.isCancelled {
            // Never before the last fire time: a restart must not repeat what already ran.
            let after = max(clock.now(), previous ?? .distantPast)
            guard let next = spec.trigger.next(after: after, previous: previous) else {
                log.notice("the schedule has no further fire times")
                return
            }
            nextRuns[spec.name] = next
            let jitter = spec.jitter.map { TimeInterval.random(in: 0...$0.seconds) } ?? 0
            log.debug("next run", metadata: ["at": "\(ISOTime.format(next, in: .utc))"])
            guard await clock.sleep(until: next.addingTimeInterval(jitter)) else { return }
            await fire(job, scheduled: next, logger: log)
            previous = next
        }
    }

    /// One fire time: skip when still running, miss when too late, else start a run.
    private func fire(_ job: ScheduledJob, scheduled: Date, logger log: Logger) async {
        let spec = job.spec
        if runs[spec.name] != nil {
            _ = await SkippedRun(job: spec.name, scheduled: scheduled, reason: "the previous run was still going")
                .record(store: store, events: events, logger: log, line: "skipped: the previous run is still going")
            return
        }
        let lateness = clock.now().timeIntervalSince(scheduled)
        if let grace = spec.misfireGrace, lateness > grace.seconds {
            let reason = "started \(DurationText.format(.seconds(Int64(lateness)))) late, beyond misfire_grace \(DurationText.format(grace))"
            log.warning("missed: \(reason)", metadata: ["scheduled": "\(ISOTime.format(scheduled, in: .utc))"])
            try? await store.notStarted(spec.name, scheduled: scheduled, result: .missed, reason: reason)
            return
        }
        startRun(job, scheduled: scheduled, cause: .schedule, logger: log)
    }

    @discardableResult
    private func startRun(_ job: ScheduledJob, scheduled: Date, cause: RunCause, logger log: Logger, output: OutputRing? = nil) -> Task<RunRecord, Never> {
        let name = job.spec.name
        let run = Task {
            let record = await JobRun(
                job: job, scheduled: scheduled, cause: cause, store: store, logger: log, clock: clock, events: events, locks: locks, output: output
            ).perform()
            output?.close()
            self.runFinished(name)
            return record
        }
        runs[name] = run
        return run
    }

    /// Runs `name` now, outside its schedule (`opsctl jobs run`), and returns its record once it
    /// ends. The no-overlap rule holds here too: a job that is running already is refused.
    public func runNow(_ name: String) async throws(JobFailure) -> RunRecord {
        try await startNow(name).value
    }

    /// Starts `name` now, outside its schedule, and returns the run, whose value is its record.
    /// Its output goes to `output` as well as to its usual place, for a caller that shows it as
    /// it comes; the run closes the ring when it ends. Refused, as `runNow` is, for an unknown
    /// job or one that is running already.
    public func startNow(_ name: String, output: OutputRing? = nil) throws(JobFailure) -> Task<RunRecord, Never> {
        guard let loop = loops[name] else {
            throw JobFailure("no job named \(name); `opsctl jobs` lists them")
        }
        guard runs[name] == nil else {
            throw JobFailure("\(name) is running already; wait for it to finish (`opsctl jobs show \(name)`)")
        }
        logger.with(job: name).notice("run requested by opsctl")
        return startRun(loop.job, scheduled: clock.now(), cause: .manual, logger: logger.with(job: name), output: output)
    }

    /// Runs `job` once in this process, with its timeout and retries, recording into `store`:
    /// how `opsctl jobs run` works when opsd is not running (nobody hears its events then).
    public static func runOnce(
        _ job: ScheduledJob, store: JobRunStore, logger: Logger, events: any EventSink = DiscardingEventSink()
    ) async -> RunRecord {
        let clock = WallClock()
        let run = JobRun(
            job: job, scheduled: clock.now(), cause: .manual, store: store, logger: logger.with(job: job.spec.name), clock: clock, events: events,
            locks: JobLocks(store: store))
        return await run.perform()
    }

    private func runFinished(_ name: String) { runs[name] = nil }
}

extension Logger {
    func with(job: String) -> Logger {
        var copy = self
        copy[metadataKey: "job"] = "\(job)"
        return copy
    }
}
