public import ControlPlane
public import Events
public import Logging
public import ServiceLifecycle
public import Systemd
import Glibc
import OpsConfig

/// Tells systemd READY=1 once the group runs, and STOPPING=1 when shutdown begins; the event
/// stream hears the same (`opsd_started`, `opsd_stopping`).
///
/// It is the last service of the group, so it starts after every listener is bound (they bind
/// before the group starts) and, shutdown running in reverse order, it is the first to stop.
public struct ReadinessService: Service {
    let summary: @Sendable () async -> String
    let gates: [Latch]
    let notifier: SystemdNotifier
    let statusLine: StatusPublisher?
    let events: any EventSink
    let stopping: @Sendable () -> Void
    let logger: Logger

    /// Creates the service; READY=1 waits until every gate is open (e.g. the workers launched).
    /// `statusLine` falls silent at STOPPING=1, so "Stopping" stays the last word. `stopping`
    /// runs as shutdown begins, before any other service stops (opsd ends the long polls of
    /// `opsctl events -f` there, which would otherwise hold up the control socket's shutdown).
    public init(
        summary: @escaping @Sendable () async -> String, gates: [Latch], notifier: SystemdNotifier,
        statusLine: StatusPublisher? = nil, events: any EventSink = DiscardingEventSink(),
        stopping: @escaping @Sendable () -> Void = {}, logger: Logger
    ) {
        self.summary = summary
        self.gates = gates
        self.notifier = notifier
        self.statusLine = statusLine
        self.events = events
        self.stopping = stopping
        self.logger = logger
    }

    /// Sends READY=1 once the gates are open, waits for graceful shutdown, sends STOPPING=1.
    public func run() async throws {
        for gate in gates { await gate.wait() }
        // Cancelled while waiting: start-up failed, so READY=1 must not be sent.
        guard !Task.isCancelled else { return }
        let summary = await self.summary()
        notifier.ready(status: summary)
        logger.notice("opsd is ready", metadata: ["status": "\(summary)"])
        events.emit(Event(.opsdStarted, subject: .daemon, message: "opsd \(opsVersion) started: \(summary)", fields: ["version": opsVersion]))
        try await gracefulShutdown()
        statusLine?.silence()
        notifier.stopping(status: "Stopping")
        logger.notice("opsd is stopping")
        events.emit(Event(.opsdStopping, subject: .daemon, message: "opsd is stopping"))
        stopping()
    }
}

/// Acts on the signals opsd handles: SIGHUP reloads the configuration (what `systemctl reload
/// opsd` sends); SIGTERM or SIGINT ends this service, and the group, configured to shut down
/// gracefully when it ends, stops everything in order.
public struct SignalService: Service {
    let signals: AsyncStream<Int32>
    let reloader: Reloader
    let logger: Logger

    /// Creates the service for `signals` (from opsd's `SignalInbox`).
    public init(signals: AsyncStream<Int32>, reloader: Reloader, logger: Logger) {
        self.signals = signals
        self.reloader = reloader
        self.logger = logger
    }

    /// Handles signals until SIGTERM/SIGINT, or until the group shuts down for another reason.
    public func run() async throws {
        for await signal in signals.cancelOnGracefulShutdown() {
            if signal == SIGHUP {
                _ = await reloader.reload(trigger: "SIGHUP")
            } else {
                logger.notice("received a signal to stop", metadata: ["signal": "\(signal == SIGINT ? "SIGINT" : "SIGTERM")"])
                return
            }
        }
    }
}

/// Proves the control socket serves requests end to end: accept loop, HTTP, routing.
public struct ControlSocketProbe: LivenessProbe {
    let client: ControlClient

    /// Creates the probe.
    public init(client: ControlClient) {
        self.client = client
    }

    /// "control socket"
    public var name: String { "control socket" }

    /// Sends `GET /v1/ping`.
    public func probe() async throws {
        let response = try await client.send(ControlRequest(method: "GET", path: "/v1/ping"))
        guard response.status == 200 else { throw ProbeError(description: "answered \(response.status)") }
    }
}

/// Proves the daemon state actor is not stuck.
public struct StateProbe: LivenessProbe {
    let state: DaemonState

    /// Creates the probe.
    public init(state: DaemonState) {
        self.state = state
    }

    /// "daemon state"
    public var name: String { "daemon state" }

    /// Calls into the actor.
    public func probe() async throws {
        await state.heartbeat()
    }
}

struct ProbeError: Error, CustomStringConvertible {
    let description: String
}

/// The watchdog's changes of health as events: `probe_unhealthy` with the failing probes when
/// the pings stop, `probe_recovered` when every probe answers again. What opsd gives
/// `WatchdogService` as its `healthChanged`.
public struct ProbeHealthEvents: Sendable {
    let events: any EventSink

    /// Reports to `events`.
    public init(events: any EventSink) {
        self.events = events
    }

    /// Emits the event for a change: `failures` empty means healthy again.
    public func changed(failures: [String]) {
        if failures.isEmpty {
            events.emit(Event(.probeRecovered, subject: .daemon, message: "every liveness probe answers again; the watchdog pings systemd again"))
        } else {
            events.emit(Event(
                .probeUnhealthy, subject: .daemon,
                message: "the watchdog stopped pinging systemd: \(failures.joined(separator: "; ")); systemd restarts opsd unless this passes",
                fields: ["failures": "\(failures.count)"]
            ))
        }
    }
}
