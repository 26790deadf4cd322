import Events
import Foundation
import Jobs
import Logging
import OpsConfig
import Scheduling
import Synchronization
import Testing

/// A wall clock the test moves by hand. Every wait the scheduler begins is announced on `waits`,
/// so a test knows the scheduler has done everything up to a fire time before it moves time on.
private final class ManualClock: SchedulerClock {
    private struct Sleeper {
        let id: Int
        let until: Date
        let continuation: CheckedContinuation<Bool, Never>
    }

    private struct State {
        var now: Date
        var sleepers: [Sleeper] = []
        var lastID = 0
    }

    private let state: Mutex<State>
    /// The instant of each wait that did not end at once, in the order they began.
    let waits: AsyncStream<Date>
    private let announce: AsyncStream<Date>.Continuation

    init(at start: Date) {
        state = Mutex(State(now: start))
        (waits, announce) = AsyncStream.makeStream()
    }

    func now() -> Date { state.withLock { $0.now } }

    func sleep(until date: Date) async -> Bool {
        let id = state.withLock { state in
            state.lastID += 1
            return state.lastID
        }
        return await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                let answer: Bool? = state.withLock { state in
                    if Task.isCancelled { return false }
                    if date <= state.now { return true }
                    state.sleepers.append(Sleeper(id: id, until: date, continuation: continuation))
                    return nil
                }
                if let answer { continuation.resume(returning: answer) } else { announce.yield(date) }
            }
        } onCancel: {
            let sleeper = state.withLock { state in state.sleepers.firstIndex { $0.id == id }.map { state.sleepers.remove(at: $0) } }
            sleeper?.continuation.resume(returning: false)
        }
    }

    /// The instants the scheduler is waiting for now.
    var waiting: [Date] { state.withLock { $0.sleepers.map(\.until) } }

    /// Sets the time to `date` and ends every wait that has come.
    func advance(to date: Date) {
        let due = state.withLock { state in
            state.now = date
            let due = state.sleepers.filter { $0.until <= date }
            state.sleepers.removeAll { $0.until <= date }
            return due
        }
        for sleeper in due { sleeper.continuation.resume(returning: true) }
    }
}

/// A job's work that announces each start and returns only once the test opens its gate, so a
/// run lasts exactly as long as the test wants.
private final class HeldWork: JobWork {
    private let gate = Mutex<(open: Bool, waiters: [CheckedContinuation<Void, Never>])>((false, []))
    /// The attempt number of each start.
    let starts: AsyncStream<Int>
    private let started: AsyncStream<Int>.Continuation

    init() {
        (starts, started) = AsyncStream.makeStream()
    }

    func run(_ context: JobContext) async throws -> String {
        started.yield(context.attempt)
        await withCheckedContinuation { continuation in
            let now = gate.withLock { gate in
                if gate.open { return true }
                gate.waiters.append(continuation)
                return false
            }
            if now { continuation.resume() }
        }
        return "done"
    }

    /// Lets every run, present and future, finish.
    func release() {
        let waiters = gate.withLock { gate in
            gate.open = true
            defer { gate.waiters = [] }
            return gate.waiters
        }
        waiters.forEach { $0.resume() }
    }
}

/// One scheduler with one job on a manual clock, its state database in a private directory.
private struct SchedulerKit {
    let clock: ManualClock
    let work = HeldWork()
    let store: JobRunStore
    let scheduler: JobScheduler
    let directory: String
    let name = "report"
    /// opsd's bus, and the test as one of its consumers.
    let events = EventBus()
    let heard: AsyncStream<Event>

    init(at start: Date, schedule: String, misfireGrace: Duration? = nil) throws {
        var template = Array("/tmp/ops-scheduler-XXXXXX".utf8CString)
        guard let directory = mkdtemp(&template).map({ String(cString: $0) }) else { throw SchedulerTestFailure("mkdtemp failed") }
        self.directory = directory
        clock = ManualClock(at: start)
        store = try JobRunStore(stateDirectory: directory)
        let spec = JobSpec(
            name: name, trigger: try Trigger.parse(schedule), action: .command(CommandSpec(command: ["/bin/true"])), misfireGrace: misfireGrace
        )
        heard = events.subscribe("test")
        scheduler = JobScheduler(jobs: [ScheduledJob(spec: spec, work: work)], store: store, logger: Logger(label: "test"), clock: clock, events: events)
    }

    /// Runs the scheduler for the duration of `body`, then stops it the way opsd's shutdown does
    /// (a held run is let go first, so the stop does not wait on the test).
    func running(_ body: (inout AsyncStream<Date>.Iterator, inout AsyncStream<Int>.Iterator) async throws -> Void) async throws {
        let service = Task { try await scheduler.run() }
        var waits = clock.waits.makeAsyncIterator()
        var starts = work.starts.makeAsyncIterator()
        do {
            try await body(&waits, &starts)
        } catch {
            work.release()
            service.cancel()
            _ = await service.result
            try? FileManager.default.removeItem(atPath: directory)
            throw error
        }
        work.release()
        service.cancel()
        _ = await service.result
        try? FileManager.default.removeItem(atPath: directory)
    }

    func history() async throws -> [RunRecord] {
        try await store.history(of: name, limit: 100)
    }
}

private struct SchedulerTestFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// `hour:minute:second` UTC on 2026-03-01.
private func at(_ hour: Int, _ minute: Int = 0, _ second: Int = 0) -> Date {
    Date(timeIntervalSince1970: 1_772_323_200 + TimeInterval(hour * 3600 + minute * 60 + second))
}

/// The scheduler's timing rules on a clock the test moves: no sleeping, no timing thresholds.
/// Each step waits for an event (the scheduler beginning its next wait, the work starting).
@Suite("the scheduler on a manual clock")
struct SchedulerTests {
    @Test("a cron job waits for its fire time, runs at it, and records the run under that time")
    func cronFiresAtItsTime() async throws {
        let kit = try SchedulerKit(at: at(2), schedule: "0 3 * * *")
        try await kit.running { waits, starts in
            #expect(await waits.next() == at(3))
            #expect(await kit.scheduler.snapshot().map(\.nextRun) == [at(3)])

            kit.clock.advance(to: at(2, 59, 59))
            #expect(kit.clock.waiting == [at(3)], "a second early the scheduler is still waiting")
            #expect(try await kit.history().isEmpty)

            kit.clock.advance(to: at(3))
            #expect(await starts.next() == 1)
            let records = try await kit.history()
            #expect(records.map(\.scheduledAt) == [at(3)])
            #expect(records.map(\.result) == [.running])
            #expect(records.first?.startedAt == at(3))
            // The next fire time is the next day's.
            #expect(await waits.next() == at(3).addingTimeInterval(86_400))
        }
    }

    @Test("fire times missed while the process could not run coalesce into one run, and the next is counted from now")
    func missedRunsCoalesce() async throws {
        let kit = try SchedulerKit(at: at(2, 30), schedule: "0 * * * *")
        try await kit.running { waits, starts in
            #expect(await waits.next() == at(3))
            // Four fire times (03:00 … 06:00) pass at once, as after a suspended machine.
            kit.clock.advance(to: at(6, 30))
            #expect(await starts.next() == 1)
            #expect(await waits.next() == at(7))
            let records = try await kit.history()
            #expect(records.count == 1, "one run for four fire times: \(records)")
            #expect(records.first?.scheduledAt == at(3))
        }
    }

    @Test("a fire time that finds the previous run still going is recorded as skipped; the run goes on alone")
    func noOverlap() async throws {
        let kit = try SchedulerKit(at: at(2, 30), schedule: "0 * * * *")
        try await kit.running { waits, starts in
            #expect(await waits.next() == at(3))
            kit.clock.advance(to: at(3))
            #expect(await starts.next() == 1)
            #expect(await waits.next() == at(4))

            // The 03:00 run is held past 04:00.
            kit.clock.advance(to: at(4))
            #expect(await waits.next() == at(5))
            let records = try await kit.history()
            #expect(records.map(\.scheduledAt) == [at(4), at(3)])
            #expect(records.map(\.result) == [.skipped, .running])
            #expect(records.first?.message == "the previous run was still going")
            #expect(await kit.scheduler.snapshot().map(\.running) == [true])
            // The skip is an event, emitted before the scheduler began its next wait.
            #expect(kit.events.emittedCounts == [.jobSkipped: 1])
            var heard = kit.heard.makeAsyncIterator()
            let skipped = await heard.next()
            #expect(skipped?.subject == Subject(.job, "report"))
            #expect(skipped?.severity == .info)
            #expect(skipped?.fields == ["scheduled": "2026-03-01T04:00:00Z"])
            #expect(skipped?.message == "job report skipped its run due at 2026-03-01T04:00:00Z: the previous run was still going")
        }
    }

    @Test("a run that would start later than misfire_grace after its fire time is recorded as missed, not run")
    func lateBeyondGraceIsMissed() async throws {
        let kit = try SchedulerKit(at: at(2, 30), schedule: "0 * * * *", misfireGrace: .seconds(600))
        try await kit.running { waits, _ in
            #expect(await waits.next() == at(3))
            kit.clock.advance(to: at(3, 30))
            #expect(await waits.next() == at(4))
            let records = try await kit.history()
            #expect(records.map(\.result) == [.missed])
            #expect(records.first?.message?.contains("beyond misfire_grace 10m") == true, "\(records)")
        }
    }

    @Test("a run asked for now returns its record when it ends, and a second one while it runs is refused")
    func runNow() async throws {
        let kit = try SchedulerKit(at: at(2, 30), schedule: "0 * * * *")
        try await kit.running { waits, starts in
            #expect(await waits.next() == at(3))
            let first = Task { try await kit.scheduler.runNow(kit.name) }
            #expect(await starts.next() == 1)
            let refused = await #expect(throws: JobFailure.self) { try await kit.scheduler.runNow(kit.name) }
            #expect(refused?.description.contains("report is running already") == true, "\(String(describing: refused))")
            kit.work.release()
            let record = try await first.value
            #expect(record.result == .ok)
            #expect(record.scheduledAt == at(2, 30))
            #expect(record.message == "done")
            await #expect(throws: JobFailure.self) { try await kit.scheduler.runNow("nightly") }
        }
    }
}
