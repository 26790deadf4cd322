import Events
import FoundationEssentials
import Glibc
import Logging
import NIOPosix
import OpsConfig
import ProcessControl
import Synchronization
import Systemd
import Testing
@testable import Supervisor

/// An event sink that keeps every event and lets a test await the one it expects.
final class CollectingSink: EventSink {
    private let collected = Mutex<[Event]>([])
    private let stream: AsyncStream<Event>
    private let continuation: AsyncStream<Event>.Continuation

    init() {
        (stream, continuation) = AsyncStream.makeStream(of: Event.self)
    }

    func emit(_ event: Event) {
        collected.withLock { $0.append(event) }
        continuation.yield(event)
    }

    /// Every event so far, in emission order.
    var events: [Event] { collected.withLock { $0 } }

    /// The kinds of every event so far, in order.
    var kinds: [EventKind] { events.map(\.kind) }

    /// Waits for the next event (after those awaited before) that `matches`; a safety net of a
    /// minute fails the test instead of hanging it.
    func next(_ description: String, where matches: @escaping @Sendable (Event) -> Bool) async throws -> Event {
        let stream = self.stream
        return try await withThrowingTaskGroup(of: Event?.self) { group in
            group.addTask {
                for await event in stream where matches(event) { return event }
                return nil
            }
            group.addTask {
                try await Task.sleep(for: .seconds(60))
                return nil
            }
            defer { group.cancelAll() }
            guard let event = try await group.next() ?? nil else {
                throw SupervisorTestFailure("no \(description) event arrived; events so far: \(events.map { "\($0.kind.rawValue) \($0.subject)" })")
            }
            return event
        }
    }

    /// Waits for the next event of `kind` about worker `worker`.
    func next(_ kind: EventKind, _ worker: String) async throws -> Event {
        try await next("\(kind.rawValue) of \(worker)") { $0.kind == kind && $0.subject == Subject(.worker, worker) }
    }
}

struct SupervisorTestFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// A supervisor of real processes that reports into a collecting sink. Spawned with
/// `DirectSpawner`: `ChildProcesses`' reaper would take the exits of other tests' children.
func supervisor(_ specs: [WorkerSpec], events: CollectingSink) -> Supervisor {
    Supervisor(
        specs: specs, children: DirectSpawner(), useJournal: false, eventLoops: MultiThreadedEventLoopGroup.singleton,
        notifier: SystemdNotifier(environment: [:]), logger: Logger(label: "opsd.test.supervisor"), events: events)
}

/// Quick restarts, so a crash loop reaches its burst limit in a fraction of a second.
func quickPolicy(_ mode: RestartPolicy.Mode = .always, burst: Int = 3, resetAfter: Duration = .seconds(600)) -> RestartPolicy {
    RestartPolicy(
        mode: mode, backoff: DurationRange(lowerBound: .milliseconds(10), upperBound: .milliseconds(20)),
        burst: BurstLimit(count: burst, window: .seconds(600)), resetAfter: resetAfter)
}

/// A notify worker that reports READY=1 and then never pings its watchdog.
let readyButMute = """
    import os, socket, time
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    address = os.environ["NOTIFY_SOCKET"]
    s.sendto(b"READY=1", "\\0" + address[1:] if address.startswith("@") else address)
    time.sleep(1000)
    """

@Suite("Worker events, with real processes")
struct WorkerEventTests {
    @Test("a crash loop: worker_exited per crash, then exactly one worker_fatal with the exit code and the restarts")
    func crashLoop() async throws {
        let sink = CollectingSink()
        let workers = supervisor([WorkerSpec(name: "crashy", command: ["/bin/sh", "-c", "exit 3"], restart: quickPolicy(burst: 3))], events: sink)
        try await workers.startAll()
        let fatal = try await sink.next(.workerFatal, "crashy")
        #expect(await workers.snapshot().first?.state == .fatal)
        await workers.stopAll()

        #expect(sink.kinds == [.workerExited, .workerExited, .workerFatal])
        for event in sink.events {
            #expect(event.subject == Subject(.worker, "crashy"))
            #expect(event.fields["exit_code"] == "3")
            #expect(!event.message.contains("\n"))
        }
        #expect(sink.events.first?.fields["restart_in_seconds"] == "0")
        #expect(sink.events.first?.severity == .warning)
        #expect(fatal.severity == .critical)
        #expect(fatal.fields["restarts"] == "2")
        #expect(fatal.fields["burst"] == "3")
        #expect(fatal.message.hasPrefix("worker crashy exited with"))
    }

    @Test("clean exits that restart: always restarts are no failures; only the exit that exhausts burst is worker_fatal")
    func cleanExits() async throws {
        let sink = CollectingSink()
        let workers = supervisor([WorkerSpec(name: "batch", command: ["/bin/true"], restart: quickPolicy(burst: 3))], events: sink)
        try await workers.startAll()
        let fatal = try await sink.next(.workerFatal, "batch")
        await workers.stopAll()
        #expect(sink.kinds == [.workerFatal])
        #expect(fatal.fields["exit_code"] == "0")
    }

    @Test("a fatal worker an operator starts again recovers once it has stayed up for reset_after")
    func fatalThenStartedByHand() async throws {
        let sink = CollectingSink()
        let counter = "/tmp/opsd-supervisor-test-\(getpid())-\(UInt32.random(in: 0 ... .max))"
        defer { unlink(counter) }
        // Runs 1 and 2 fail (fatal at burst 2); run 3, started by hand, stays up.
        let script = "n=$(cat \(counter) 2>/dev/null || echo 0); echo $((n + 1)) > \(counter); [ $n -ge 2 ] && exec /bin/sleep 1000; exit 1"
        let workers = supervisor(
            [WorkerSpec(name: "fixed", command: ["/bin/sh", "-c", script], restart: quickPolicy(.onFailure, burst: 2, resetAfter: .milliseconds(300)))],
            events: sink)
        try await workers.startAll()
        _ = try await sink.next(.workerFatal, "fixed")
        try await workers.start("fixed")
        _ = try await sink.next(.workerRecovered, "fixed")
        await workers.stopAll()
        #expect(sink.kinds == [.workerExited, .workerFatal, .workerRecovered])
    }

    @Test("stops, restarts and reloads that opsd or an operator asked for emit nothing")
    func operatorStops() async throws {
        let sink = CollectingSink()
        let web = WorkerSpec(name: "web", command: ["/bin/sleep", "1000"], restart: quickPolicy())
        let workers = supervisor([web], events: sink)
        try await workers.startAll()
        try await workers.restart("web")
        #expect(try await workers.restartIfRunning("web"))
        try await workers.stop("web")
        try await workers.start("web")
        // A reload that changes web restarts it; the worker it adds crashes, and its event is the
        // only one: proof that the sink hears this supervisor at all.
        var changed = web
        changed.command = ["/bin/sleep", "999"]
        let crash = WorkerSpec(name: "crash", command: ["/bin/sh", "-c", "exit 4"], restart: RestartPolicy(mode: .never))
        _ = await workers.apply([changed, crash])
        _ = try await sink.next(.workerExited, "crash")
        await workers.stopAll()

        #expect(sink.events.map { "\($0.kind.rawValue) \($0.subject)" } == ["worker_exited worker crash"])
        #expect(sink.events.first?.fields["exit_code"] == "4")
    }

    @Test("a worker that failed and then stays up for reset_after recovers, once")
    func recovers() async throws {
        let sink = CollectingSink()
        let marker = "/tmp/opsd-supervisor-test-\(getpid())-\(UInt32.random(in: 0 ... .max))"
        defer { unlink(marker) }
        // The first run fails; the restarted one stays up.
        let script = "if [ -e \(marker) ]; then exec /bin/sleep 1000; fi; : > \(marker); exit 1"
        let workers = supervisor(
            [WorkerSpec(name: "flaky", command: ["/bin/sh", "-c", script], restart: quickPolicy(.onFailure, resetAfter: .milliseconds(300)))],
            events: sink)
        try await workers.startAll()
        let recovered = try await sink.next(.workerRecovered, "flaky")
        // An operator's restart of a worker that has recovered arms nothing more.
        try await workers.restart("flaky")
        await workers.stopAll()

        #expect(sink.kinds == [.workerExited, .workerRecovered])
        #expect(recovered.severity == .ok)
        #expect(recovered.fields["pid"].flatMap { Int32($0) } != nil)
        #expect((recovered.fields["uptime_seconds"].flatMap(Double.init) ?? 0) >= 0.3)
    }

    @Test("a worker that is restarted by hand before reset_after has not recovered")
    func noRecoveryWhileUnproven() async throws {
        let sink = CollectingSink()
        let marker = "/tmp/opsd-supervisor-test-\(getpid())-\(UInt32.random(in: 0 ... .max))"
        defer { unlink(marker) }
        let script = "if [ -e \(marker) ]; then exec /bin/sleep 1000; fi; : > \(marker); exit 1"
        let workers = supervisor(
            [WorkerSpec(name: "flaky", command: ["/bin/sh", "-c", script], restart: quickPolicy(.onFailure, resetAfter: .seconds(600)))],
            events: sink)
        try await workers.startAll()
        _ = try await sink.next(.workerExited, "flaky")
        try await workers.stop("flaky")
        await workers.stopAll()
        #expect(sink.kinds == [.workerExited])
    }

    @Test("a notify worker that misses its start timeout: worker_start_timeout, and no worker_exited for the same run")
    func startTimeout() async throws {
        let sink = CollectingSink()
        let mute = WorkerSpec(
            name: "mute", command: ["/bin/sleep", "1000"], restart: quickPolicy(burst: 2),
            stop: StopPolicy(timeout: .seconds(5)), notify: true, startTimeout: .milliseconds(100))
        let workers = supervisor([mute], events: sink)
        try await workers.startAll()
        let fatal = try await sink.next(.workerFatal, "mute")
        await workers.stopAll()

        #expect(sink.kinds == [.workerStartTimeout, .workerStartTimeout, .workerFatal])
        let timeout = try #require(sink.events.first)
        #expect(timeout.fields["timeout_seconds"] == "0.1")
        #expect(timeout.severity == .critical)
        #expect(fatal.fields["signal"] == "\(SIGTERM)")
    }

    @Test("a notify worker that stops pinging its watchdog: worker_watchdog, and no worker_exited for the same run")
    func watchdog() async throws {
        let sink = CollectingSink()
        let hung = WorkerSpec(
            name: "hung", command: ["/usr/bin/python3", "-c", readyButMute], restart: quickPolicy(burst: 2),
            stop: StopPolicy(timeout: .seconds(5)), notify: true, watchdog: .milliseconds(300))
        let workers = supervisor([hung], events: sink)
        try await workers.startAll()
        _ = try await sink.next(.workerFatal, "hung")
        await workers.stopAll()

        #expect(sink.kinds == [.workerWatchdog, .workerWatchdog, .workerFatal])
        #expect(sink.events.first?.fields["timeout_seconds"] == "0.3")
        #expect(sink.events.last?.fields["signal"] == "\(SIGABRT)")
    }
}
