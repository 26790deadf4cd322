import DaemonRuntime
public import Events
import FoundationEssentials
public import Logging
public import OpsConfig
import Synchronization

/// Takes opsd's events to the configured routes: each event goes to every route that selects
/// it (``AlertSpec/selects(_:)``), the `ok` event that ends a condition also to the routes that
/// sent its bad one (`send_resolved`), and a condition that stays bad is sent again every
/// `repeat:` (as Alertmanager's `repeat_interval`).
///
/// A condition is a subject (`check disk-root`, `worker web`) with a warning or critical event
/// that a route sent and no `ok` event since. Timers exist only for open conditions of routes
/// with `repeat:`: an opsd with nothing wrong arms none. ``route(_:)`` only queues, so the
/// event stream never waits for a receiver.
public final class AlertRouter: Sendable {
    /// One route's open condition of one subject.
    struct Condition: Sendable {
        /// The last bad event the route sent about the subject.
        var event: Event
        /// How often it was sent again.
        var repeats: Int
        /// When it was last sent, for the next repeat.
        var lastSent: ContinuousClock.Instant
        /// The repeat timer; nil without `repeat:`, or once an event the route does not take
        /// (say crit → warn on a route for crit) made the last one stale.
        var timer: Task<Void, Never>?
        /// Tells a timer that fired late that it was replaced.
        var generation: Int
    }

    private struct State {
        var conditions: [String: [Subject: Condition]] = [:]
        var nextGeneration = 0
        var finished = false
    }

    private let deliveries: [RouteDelivery]
    private let state = Mutex(State())
    private let host: String
    private let logger: Logger

    /// The queue of each route holds this many alerts by default; beyond it the oldest are
    /// dropped and counted.
    public static let defaultQueueCapacity = 100

    /// Creates the routes of `specs`. `previous` is the router a reload replaces: its open
    /// conditions carry over to routes whose definition is unchanged, so a reload neither
    /// forgets to send a resolved message nor restarts a repeat's wait.
    public init(
        routes specs: [AlertSpec], senders: AlertSenders, counters: AlertCounters, logger: Logger, hostname: String? = nil,
        queueCapacity: Int = AlertRouter.defaultQueueCapacity, replacing previous: AlertRouter? = nil
    ) {
        self.host = hostname ?? ProcessInfo.processInfo.hostName
        self.logger = logger
        self.deliveries = specs.map { RouteDelivery(spec: $0, senders: senders, counters: counters, capacity: queueCapacity, logger: logger) }
        guard let previous else { return }
        let carried = previous.handOver()
        state.withLock { state in
            for delivery in deliveries {
                guard let (spec, conditions) = carried[delivery.spec.name], spec == delivery.spec else { continue }
                for (subject, condition) in conditions {
                    var condition = condition
                    condition.generation = state.nextGeneration
                    state.nextGeneration += 1
                    if condition.timer != nil, let interval = spec.repeatInterval {
                        let remaining = interval - (ContinuousClock.now - condition.lastSent)
                        condition.timer = armRepeat(delivery, subject, generation: condition.generation, after: remaining)
                    }
                    state.conditions[spec.name, default: [:]][subject] = condition
                }
            }
        }
    }

    /// Hands `event` to the routes that take it; returns at once.
    public func route(_ event: Event) {
        state.withLock { state in
            guard !state.finished else { return }
            for delivery in deliveries {
                route(event, through: delivery, state: &state)
            }
        }
    }

    private func route(_ event: Event, through delivery: RouteDelivery, state: inout State) {
        let spec = delivery.spec
        let selected = spec.selects(event)
        let open = state.conditions[spec.name]?[event.subject]
        switch event.severity {
        case .ok:
            if let open {
                open.timer?.cancel()
                state.conditions[spec.name]?[event.subject] = nil
            }
            if selected || (open != nil && spec.sendResolved) {
                delivery.enqueue(Alert(event: event, status: .resolved, host: host, route: spec.name))
            }
        case .info:
            if selected { delivery.enqueue(Alert(event: event, status: .info, host: host, route: spec.name)) }
        case .warning, .critical:
            guard selected else {
                // Still bad, but not in a way this route takes: its last message is stale, so no
                // more repeats of it; the condition stays open for its resolved message.
                if let open {
                    open.timer?.cancel()
                    state.conditions[spec.name]?[event.subject]?.timer = nil
                }
                return
            }
            open?.timer?.cancel()
            delivery.enqueue(Alert(event: event, status: .firing, host: host, route: spec.name))
            let generation = state.nextGeneration
            state.nextGeneration += 1
            let timer = spec.repeatInterval.map { armRepeat(delivery, event.subject, generation: generation, after: $0) }
            state.conditions[spec.name, default: [:]][event.subject] = Condition(
                event: event, repeats: 0, lastSent: .now, timer: timer, generation: generation
            )
        }
    }

    private func armRepeat(_ delivery: RouteDelivery, _ subject: Subject, generation: Int, after wait: Duration) -> Task<Void, Never> {
        Task { [weak self] in
            guard (try? await Task.sleep(for: max(wait, Duration.zero), clock: .loop)) != nil else { return }
            self?.repeatDue(delivery, subject, generation: generation)
        }
    }

    private func repeatDue(_ delivery: RouteDelivery, _ subject: Subject, generation: Int) {
        state.withLock { state in
            let name = delivery.spec.name
            guard !state.finished, var condition = state.conditions[name]?[subject], condition.generation == generation,
                  let interval = delivery.spec.repeatInterval else { return }
            // While the last message about it still waits for a slow or down receiver, a repeat
            // would only queue behind it and push other alerts out: the next interval may send one.
            if !delivery.isWaiting(subject) {
                condition.repeats += 1
                condition.lastSent = .now
                delivery.enqueue(Alert(event: condition.event, status: .firing, repeatCount: condition.repeats, host: host, route: name))
            }
            condition.timer = armRepeat(delivery, subject, generation: generation, after: interval)
            state.conditions[name]?[subject] = condition
        }
    }

    /// Sends queued alerts until the routes are finished (``finish()``) and their queues empty,
    /// or the task is cancelled.
    public func run() async {
        await withDiscardingTaskGroup { group in
            for delivery in deliveries {
                group.addTask { await delivery.deliver() }
            }
        }
    }

    /// Takes no more events and arms no more repeats; ``run()`` returns once the queues are
    /// sent. For a reload (the new router takes the conditions) and for shutdown.
    public func finish() {
        _ = handOver()
    }

    /// Stops everything and returns the open conditions by route, with each route's spec.
    private func handOver() -> [String: (AlertSpec, [Subject: Condition])] {
        let conditions = state.withLock { state in
            defer {
                state.finished = true
                state.conditions = [:]
            }
            return state.finished ? [:] : state.conditions
        }
        var carried: [String: (AlertSpec, [Subject: Condition])] = [:]
        for delivery in deliveries {
            delivery.finish()
            if let open = conditions[delivery.spec.name] {
                open.values.forEach { $0.timer?.cancel() }
                carried[delivery.spec.name] = (delivery.spec, open)
            }
        }
        return carried
    }

    /// The open conditions, by route: what tests read to see that repeats stopped.
    var openConditions: [String: [Subject: (repeats: Int, repeating: Bool)]] {
        state.withLock { state in
            state.conditions.mapValues { $0.mapValues { ($0.repeats, $0.timer != nil) } }
        }
    }
}
