public import Logging
public import ServiceLifecycle
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
public struct WatchdogService: Service {
    private let interval: Duration
    private let probes: [any LivenessProbe]
    private let notifier: SystemdNotifier
    private let healthyStatus: @Sendable () async -> String
    private let logger: Logger

    /// Creates the service. `interval` is systemd's `WATCHDOG_USEC`; `healthyStatus` gives the
    /// STATUS= line to restore once the probes answer again.
    public init(
        interval: Duration, probes: [any LivenessProbe], notifier: SystemdNotifier,
        healthyStatus: @escaping @Sendable () async -> String, logger: Logger
    ) {
        self.interval = interval
        self.probes = probes
        self.notifier = notifier
        self.healthyStatus = healthyStatus
        self.logger = logger
    }

    /// Probes and pings until graceful shutdown.
    public func run() async throws {
        let period = interval / 2
        logger.info("watchdog enabled", metadata: ["interval": "\(interval)", "probes": "\(probes.map(\.name))"])
        var wasHealthy = true
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            let failures = await checkProbes(deadline: period / 2)
            if failures.isEmpty {
                if !wasHealthy {
                    logger.notice("watchdog: every probe answers again; pinging resumed")
                    notifier.status(await healthyStatus())
                }
                notifier.watchdogPing()
            } else {
                // Say why before systemd acts, so the journal explains the restart.
                logger.error("watchdog: not pinging systemd", metadata: ["failures": "\(failures.joined(separator: "; "))"])
                notifier.status("Unhealthy: \(failures.joined(separator: "; "))")
            }
            wasHealthy = failures.isEmpty
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: period) }
        }
    }

    /// Runs every probe concurrently; returns a description of each one that failed or was late.
    func checkProbes(deadline: Duration) async -> [String] {
        await withTaskGroup(of: String?.self) { group in
            for probe in probes {
                group.addTask {
                    switch await Self.outcome(of: probe, within: deadline) {
                    case .answered: nil
                    case .failed(let reason): "\(probe.name): \(reason)"
                    case .late: "\(probe.name): no answer within \(deadline)"
                    }
                }
            }
            var failures: [String] = []
            for await failure in group { if let failure { failures.append(failure) } }
            return failures
        }
    }

    enum Outcome: Sendable {
        case answered, failed(String), late
    }

    /// Races a probe against a deadline without waiting for a probe that never returns: a probe
    /// stuck on a blocked thread is abandoned, and the watchdog goes on to report it.
    static func outcome(of probe: any LivenessProbe, within deadline: Duration) async -> Outcome {
        let result = Mutex<CheckedContinuation<Outcome, Never>?>(nil)
        let finish: @Sendable (Outcome) -> Void = { outcome in
            result.withLock { continuation in
                continuation?.resume(returning: outcome)
                continuation = nil
            }
        }
        return await withCheckedContinuation { continuation in
            result.withLock { $0 = continuation }
            let timer = Task {
                try? await Task.sleep(for: deadline)
                finish(.late)
            }
            Task {
                do {
                    try await probe.probe()
                    finish(.answered)
                } catch {
                    finish(.failed("\(error)"))
                }
                timer.cancel()
            }
        }
    }
}
