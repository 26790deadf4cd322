public import Logging
public import ServiceLifecycle
import DaemonRuntime
import Dispatch
import Synchronization

/// Something whose progress the watchdog must see before it pings systemd.
///
/// A probe does a small piece of real work through the component it watches (a request over the
/// control socket, a call into an actor), so it succeeds only if that component is actually moving.
public protocol LivenessProbe: Sendable {
    /// What is probed, for log lines ("control socket", "daemon state").
    var name: String { get }
    /// Returns when the component answered; throws when it answered with an error.
    func probe() async throws
}

/// Pings the systemd watchdog at half its interval, but only when every probe answered in time.
///
/// A timer that pings unconditionally would keep a hung daemon alive forever, which defeats the
/// watchdog. Here a stuck component makes its probe miss the deadline, no ping is sent, and
/// systemd restarts opsd as configured.
///
/// The watchdog keeps time on a thread of its own, outside the event loops that run the
/// daemon's tasks: a task that blocks a loop holds up everything queued on that loop, and the
/// observer must not be among what it holds up. From that thread each round starts the probes
/// as tasks and waits for their answers until the deadline; whatever has not answered is late.
public struct WatchdogService: Service {
    private let interval: Duration
    private let probes: [any LivenessProbe]
    private let notifier: SystemdNotifier
    private let healthyStatus: @Sendable () async -> String
    private let healthChanged: @Sendable (_ failures: [String]) -> Void
    private let logger: Logger

    /// Creates the service. `interval` is systemd's `WATCHDOG_USEC`; `healthyStatus` gives the
    /// STATUS= line to restore once the probes answer again. `healthChanged` hears each change,
    /// on the watchdog's thread (so it must return at once): the failures of the round that made
    /// the daemon unhealthy, or none when every probe answers again.
    public init(
        interval: Duration, probes: [any LivenessProbe], notifier: SystemdNotifier,
        healthyStatus: @escaping @Sendable () async -> String,
        healthChanged: @escaping @Sendable (_ failures: [String]) -> Void = { _ in }, logger: Logger
    ) {
        self.interval = interval
        self.probes = probes
        self.notifier = notifier
        self.healthyStatus = healthyStatus
        self.healthChanged = healthChanged
        self.logger = logger
    }

    /// Probes and pings until graceful shutdown.
    public func run() async throws {
        logger.info("watchdog enabled", metadata: ["interval": "\(interval)", "probes": "\(probes.map(\.name))"])
        let stop = DispatchSemaphore(value: 0)
        let pinging = Task { try await onOwnThread(named: "opsd-watchdog") { [self] in pingWhileHealthy(until: stop) } }
        try? await gracefulShutdown()
        stop.signal()
        // Once run() returns, no ping may follow: STOPPING=1 is on its way.
        _ = try? await pinging.value
    }

    /// The watchdog thread: a round of probes every half interval until `stop` is signalled.
    private func pingWhileHealthy(until stop: DispatchSemaphore) {
        let period = interval / 2
        var wasHealthy = true
        repeat {
            let failures = probeRound(deadline: period / 2)
            if failures.isEmpty {
                if !wasHealthy {
                    logger.notice("watchdog: every probe answers again; pinging resumed")
                    let notifier = notifier, healthyStatus = healthyStatus
                    Task.detached { notifier.status(await healthyStatus()) }
                    healthChanged([])
                }
                notifier.watchdogPing()
            } else {
                // Say why before systemd acts, so the journal explains the restart.
                logger.error("watchdog: not pinging systemd", metadata: ["failures": "\(failures.joined(separator: "; "))"])
                notifier.status("Unhealthy: \(failures.joined(separator: "; "))")
                if wasHealthy { healthChanged(failures) }
            }
            wasHealthy = failures.isEmpty
        } while stop.wait(timeout: .now() + Self.nanoseconds(period)) == .timedOut
    }

    /// Starts every probe as a task and waits for the answers until `deadline`; returns a
    /// description of each probe that failed or had not answered by then. A probe stuck on a
    /// blocked thread is abandoned, not awaited.
    func probeRound(deadline: Duration) -> [String] {
        let answers = Answers()
        let answered = DispatchSemaphore(value: 0)
        for (index, probe) in probes.enumerated() {
            Task.detached {
                let failure: String?
                do {
                    try await probe.probe()
                    failure = nil
                } catch {
                    failure = "\(error)"
                }
                answers.record(index, failure)
                answered.signal()
            }
        }
        let end = DispatchTime.now() + Self.nanoseconds(deadline)
        for _ in probes where answered.wait(timeout: end) == .timedOut { break }
        let received = answers.received
        return probes.enumerated().compactMap { index, probe in
            guard let answer = received[index] else { return "\(probe.name): no answer within \(deadline)" }
            return answer.map { "\(probe.name): \($0)" }
        }
    }

    private static func nanoseconds(_ duration: Duration) -> DispatchTimeInterval {
        .nanoseconds(duration.nanoseconds)
    }
}

/// The probes' answers of one round, by index: nil inside means answered, a text means failed.
private final class Answers: Sendable {
    private let answers = Mutex<[Int: String?]>([:])

    func record(_ index: Int, _ failure: String?) {
        answers.withLock { $0[index] = failure }
    }

    var received: [Int: String?] { answers.withLock { $0 } }
}
