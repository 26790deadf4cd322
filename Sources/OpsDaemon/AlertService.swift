public import Alerts
public import Events
import FoundationEssentials
public import Logging
public import OpsConfig
public import ProcessControl
public import ServiceLifecycle
import Synchronization

/// The alert routes inside opsd's service group: one consumer (`alerts`) of the event bus, whose
/// events go to the router in force. A reload replaces the router; the new one takes over the
/// open conditions of unchanged routes (resolved messages and repeats go on), and the old one
/// sends what it had queued and ends.
public final class AlertService: Service, Sendable {
    /// Every route's delivered, failed and dropped alerts since opsd started, across reloads:
    /// for `/metrics` and `opsctl status`.
    public let counters = AlertCounters()
    private let events: AsyncStream<Event>
    private let senders: AlertSenders
    private let logger: Logger
    private let hostname: String?
    private let router: Mutex<AlertRouter>
    /// The delivery tasks of the router in force and of replaced ones still sending their queue.
    private let deliveries = Mutex<(running: Bool, tasks: [ObjectIdentifier: Task<Void, Never>])>((false, [:]))

    /// Subscribes to `bus` at once, so events emitted before `run()` (opsd starting, the first
    /// check results) are kept for it; hooks run through `children`.
    public init(configuration: Configuration, bus: EventBus, children: any ProcessSpawner, logger: Logger, hostname: String? = nil) {
        self.events = bus.subscribe("alerts")
        self.senders = AlertSenders(commands: CommandRunner(spawner: children))
        self.logger = logger
        self.hostname = hostname
        self.router = Mutex(AlertRouter(routes: configuration.alerts, senders: senders, counters: counters, logger: logger, hostname: hostname))
    }

    /// Routes events until graceful shutdown.
    public func run() async throws {
        deliveries.withLock { $0.running = true }
        start(router.withLock { $0 })
        await cancelWhenGracefulShutdown {
            for await event in self.events {
                self.router.withLock { $0 }.route(event)
            }
        }
        let running = deliveries.withLock { deliveries in
            defer { deliveries = (false, [:]) }
            return deliveries.tasks.values
        }
        router.withLock { $0 }.finish()
        running.forEach { $0.cancel() }
    }

    /// Takes a reloaded configuration's routes. Before `run()` it only records them.
    public func apply(_ configuration: Configuration) {
        let replacement = router.withLock { current in
            current = AlertRouter(
                routes: configuration.alerts, senders: senders, counters: counters, logger: logger, hostname: hostname, replacing: current
            )
            return current
        }
        start(replacement)
    }

    /// Runs `router`'s deliveries while the service runs; a replaced router's task ends by
    /// itself once its queue is sent.
    private func start(_ router: AlertRouter) {
        let id = ObjectIdentifier(router)
        deliveries.withLock { deliveries in
            guard deliveries.running, deliveries.tasks[id] == nil else { return }
            deliveries.tasks[id] = Task { [weak self] in
                await router.run()
                _ = self?.deliveries.withLock { $0.tasks.removeValue(forKey: id) }
            }
        }
    }
}
