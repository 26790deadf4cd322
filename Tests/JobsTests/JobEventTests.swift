import BackupRecords
import Events
import Foundation
import Logging
import OpsConfig
import ProcessControl
import Scheduling
import Synchronization
import Testing
@testable import Jobs

/// What one attempt of `ScriptedWork` does.
private enum Step: Sendable {
    case succeed
    case fail(String, ProcessControl.ExitStatus?)
    /// Runs until cancelled (by the job's timeout).
    case hang
}

/// A job's work that does, attempt after attempt, what the test scripted.
private final class ScriptedWork: JobWork {
    private let steps: Mutex<[Step]>

    init(_ steps: [Step]) {
        self.steps = Mutex(steps)
    }

    func run(_ context: JobContext) async throws -> String {
        let step = steps.withLock { $0.isEmpty ? Step.succeed : $0.removeFirst() }
        switch step {
        case .succeed:
            return "done"
        case .fail(let reason, let exit):
            throw JobFailure(reason, exit: exit)
        case .hang:
            try await Task.sleep(for: .seconds(3600))
            return "woke up"
        }
    }
}

/// opsd's real event bus with the test as a consumer: the events in order, and the bus's count
/// of everything emitted, which proves there were no others.
struct Heard {
    let bus = EventBus()
    let stream: AsyncStream<Event>

    init() {
        stream = bus.subscribe("test")
    }

    /// The next `count` events. A run emits before `runOnce` returns, so they are waiting.
    func next(_ count: Int) async -> [Event] {
        var events: [Event] = []
        guard count > 0 else { return events }
        for await event in stream {
            events.append(event)
            if events.count == count { break }
        }
        return events
    }

    var total: Int { bus.emittedCounts.values.reduce(0, +) }
}

/// A job run store in a private directory, removed at the end.
final class Store {
    let directory: String
    let store: JobRunStore

    init() throws {
        var template = Array("/tmp/ops-job-events-XXXXXX".utf8CString)
        guard let directory = mkdtemp(&template).map({ String(cString: $0) }) else { throw JobEventTestFailure("mkdtemp failed") }
        self.directory = directory
        store = try JobRunStore(stateDirectory: directory)
    }

    deinit { try? FileManager.default.removeItem(atPath: directory) }
}

struct JobEventTestFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

private func job(_ work: any JobWork, name: String = "report", retries: Int = 0, timeout: Duration? = nil) throws -> ScheduledJob {
    ScheduledJob(
        spec: JobSpec(
            name: name, trigger: try Trigger.parse("0 3 * * *"), action: .command(CommandSpec(command: ["/bin/true"])), timeout: timeout,
            retries: retries, retryBackoff: DurationRange(lowerBound: .milliseconds(1), upperBound: .milliseconds(2))),
        work: work)
}

private let logger = Logger(label: "opsd.test.jobs")

@Suite("Job events")
struct JobEventTests {
    @Test("a job that fails after its retries: one job_failed with attempts, exit code and the last lines of the reason")
    func failedAfterRetries() async throws {
        let store = try Store()
        let heard = Heard()
        let log = "starting\nline 2\nline 3\nline 4\ndisk full"
        let work = ScriptedWork([.fail("first try broke", .exited(1)), .fail(log, .exited(3))])
        let record = await JobScheduler.runOnce(try job(work, retries: 1), store: store.store, logger: logger, events: heard.bus)
        #expect(record.result == .failed)

        let events = await heard.next(1)
        #expect(heard.total == 1)
        let failed = try #require(events.first)
        #expect(failed.kind == .jobFailed)
        #expect(failed.subject == Subject(.job, "report"))
        #expect(failed.severity == .critical)
        #expect(failed.fields == ["attempts": "2", "exit_code": "3"])
        #expect(failed.message == "job report failed after 2 attempts: line 3; line 4; disk full")
    }

    @Test("a success after a failed run is job_recovered, once; a restarted opsd still knows the run before failed")
    func recovered() async throws {
        let store = try Store()
        let heard = Heard()
        // Each runOnce is a fresh run with nothing in memory, as after an opsd restart: only the
        // run store knows how the previous run ended.
        _ = await JobScheduler.runOnce(try job(ScriptedWork([.fail("broken", .signaled(9))])), store: store.store, logger: logger, events: heard.bus)
        _ = await JobScheduler.runOnce(try job(ScriptedWork([.succeed])), store: store.store, logger: logger, events: heard.bus)
        _ = await JobScheduler.runOnce(try job(ScriptedWork([.succeed])), store: store.store, logger: logger, events: heard.bus)
        // Another job's failure is no business of this one's.
        _ = await JobScheduler.runOnce(try job(ScriptedWork([.fail("x", nil)]), name: "other"), store: store.store, logger: logger, events: heard.bus)
        _ = await JobScheduler.runOnce(try job(ScriptedWork([.succeed])), store: store.store, logger: logger, events: heard.bus)

        let events = await heard.next(3)
        #expect(heard.total == 3)
        #expect(events.map { "\($0.kind.rawValue) \($0.subject.name)" } == ["job_failed report", "job_recovered report", "job_failed other"])
        #expect(events.first?.fields == ["attempts": "1", "signal": "9"])
        #expect(events[1].severity == .ok)
        #expect(events[1].message == "job report succeeded again after failing")
    }

    @Test("a first run that succeeds, and a success after a success, raise nothing")
    func quietWhenHealthy() async throws {
        let store = try Store()
        let heard = Heard()
        _ = await JobScheduler.runOnce(try job(ScriptedWork([.succeed])), store: store.store, logger: logger, events: heard.bus)
        // A failed attempt that a retry makes good is no failed run either.
        _ = await JobScheduler.runOnce(try job(ScriptedWork([.fail("flake", .exited(1)), .succeed]), retries: 1), store: store.store, logger: logger, events: heard.bus)
        #expect(heard.total == 0)
    }

    @Test("an attempt cut short by the timeout is job_timed_out, and the run that ends so is job_failed")
    func timedOut() async throws {
        let store = try Store()
        let heard = Heard()
        let work = ScriptedWork([.hang, .hang])
        let record = await JobScheduler.runOnce(
            try job(work, retries: 1, timeout: .milliseconds(50)), store: store.store, logger: logger, events: heard.bus)
        #expect(record.result == .failed)

        let events = await heard.next(3)
        #expect(heard.total == 3)
        #expect(events.map(\.kind) == [.jobTimedOut, .jobTimedOut, .jobFailed])
        #expect(events[0].fields["attempt"] == "1")
        #expect(events[0].fields["timeout_seconds"] == "0.05")
        #expect(events[0].fields["retry_in_seconds"] == "0.001")
        #expect(events[0].message == "job report ran past its timeout of 50ms and was stopped; retrying in 1ms")
        #expect(events[1].message.hasSuffix("; no retries left"))
        #expect(events[1].fields["retry_in_seconds"] == nil)
        #expect(events[2].message == "job report failed after 2 attempts: timed out after 50ms")
    }
}

/// A command job run with a real process (through `DirectSpawner`: `ChildProcesses`' reaper would
/// take other tests' children).
@Suite("Command job events")
struct CommandJobEventTests {
    @Test("a command that exits 3 on every attempt: job_failed names the exit code and the program, never its arguments")
    func commandFails() async throws {
        let store = try Store()
        let heard = Heard()
        let command = CommandJob(spec: CommandSpec(command: ["/bin/sh", "-c", "exit 3"]), children: DirectSpawner(), output: { _ in nil })
        let record = await JobScheduler.runOnce(try job(command, name: "cleanup", retries: 1), store: store.store, logger: logger, events: heard.bus)
        #expect(record.result == .failed)

        let events = await heard.next(1)
        #expect(heard.total == 1)
        #expect(events.first?.kind == .jobFailed)
        #expect(events.first?.fields == ["attempts": "2", "exit_code": "3"])
        #expect(events.first?.message == "job cleanup failed after 2 attempts: /bin/sh ended with exit 3")
    }
}

/// How a backup job's runs are reported: as backups, from the run's outcome and the run before it
/// (as the run store keeps them, so the judgement survives an opsd restart).
@Suite("Backup job events")
struct BackupJobEventTests {
    let store: Store
    let backup: BackupJob

    init() throws {
        store = try Store()
        backup = BackupJob(configPath: "/nonexistent", history: BackupHistory(database: store.store.database), children: DirectSpawner(), output: { _ in nil })
    }

    static let pushed = BackupJob.summary(of: .init(
        finished: Date(), succeeded: true, remoteConfigured: true, remoteInSync: true, unpushedCommits: 0, error: nil, commit: "0123456789abcdef"))
    static let local = BackupJob.summary(of: .init(
        finished: Date(), succeeded: true, remoteConfigured: true, remoteInSync: false, unpushedCommits: 2,
        error: "cannot push to ssh://git@backup.example/app.git: connection refused", commit: "0123456789abcdef"))
    static let noRemote = BackupJob.summary(of: .init(
        finished: Date(), succeeded: true, remoteConfigured: false, remoteInSync: false, unpushedCommits: 0, error: nil, commit: nil))

    func previous(_ result: RunResult, _ message: String) -> RunRecord {
        RunRecord(scheduledAt: Date(), startedAt: Date(), finishedAt: Date(), result: result, attempts: 1, message: message)
    }

    func events(_ result: RunResult, _ message: String, after previous: RunRecord? = nil, attempts: Int = 1) -> [String] {
        backup.events(for: JobOutcome(job: "backup", result: result, attempts: attempts, message: message, previous: previous))
            .map { "\($0.kind.rawValue) \($0.subject) \($0.severity.rawValue): \($0.message)" }
    }

    @Test("a failed backup is backup_failed about the backup, not job_failed")
    func failed() {
        #expect(events(.failed, "the database is locked", attempts: 3) == [
            "backup_failed backup backup critical: backup backup failed after 3 attempts: the database is locked",
        ])
    }

    @Test("a backup stored whose push failed is backup_local, each time it happens")
    func local() {
        let expected = [
            "backup_local backup backup warning: backup backup was stored but its push failed, so it exists on this host only: cannot push to ssh://git@backup.example/app.git: connection refused",
        ]
        #expect(events(.ok, Self.local) == expected)
        #expect(events(.ok, Self.local, after: previous(.ok, Self.local)) == expected)
        #expect(events(.ok, Self.local, after: previous(.failed, "x")) == expected)
    }

    @Test("the first pushed backup after a failed or local one is backup_recovered; after a good one, nothing")
    func recovered() {
        let recovered = ["backup_recovered backup backup ok: backup backup reached its remote again"]
        #expect(events(.ok, Self.pushed, after: previous(.failed, "the database is locked")) == recovered)
        #expect(events(.ok, Self.pushed, after: previous(.ok, Self.local)) == recovered)
        #expect(events(.ok, Self.noRemote, after: previous(.failed, "x")) == recovered)
        #expect(events(.ok, Self.pushed, after: previous(.ok, Self.pushed)).isEmpty)
        #expect(events(.ok, Self.pushed).isEmpty)
        #expect(events(.interrupted, "opsd stopped during the run", after: previous(.failed, "x")).isEmpty)
    }
}
