public import Events
public import Logging
public import ServiceLifecycle

/// The journal's consumer of the event stream: one log entry per event, so `journalctl
/// OPS_EVENT=worker_fatal` finds every worker opsd gave up on, and `journalctl OPS_WORKER=web`
/// finds a worker's events beside the supervisor's own lines about it.
///
/// Under journald the metadata become `OPS_` fields (docs/alerts.md): `OPS_EVENT` (the kind),
/// `OPS_SEVERITY`, `OPS_SUBJECT` and `OPS_SUBJECT_KIND`, `OPS_WORKER`/`OPS_JOB`/`OPS_CHECK`/
/// `OPS_BACKUP` with the subject's name, and one field per field of the event (`OPS_EXIT_CODE`).
/// Events are logged whatever `daemon.log_level` says, down to `info`: they are the lines
/// someone reads after an incident.
public struct EventJournalService: Service {
    /// The consumer's name on the bus, in its drop counts.
    public static let consumerName = "journal"

    private let bus: EventBus
    private let stream: AsyncStream<Event>
    private let logger: Logger

    /// Subscribes to `bus` now, so the events emitted before the group runs (the workers' first
    /// starts) are queued for the journal too; at most `capacity` wait.
    public init(bus: EventBus, logger: Logger, capacity: Int = 1000) {
        self.bus = bus
        stream = bus.subscribe(Self.consumerName, capacity: capacity)
        var logger = logger
        logger.logLevel = min(logger.logLevel, .info)
        self.logger = logger
    }

    /// Logs events until graceful shutdown, then what is still queued, and returns.
    public func run() async throws {
        await withGracefulShutdownHandler {
            for await event in stream { Self.log(event, to: logger) }
        } onGracefulShutdown: { [bus] in
            bus.finish(Self.consumerName)
        }
    }

    /// Writes `event` to `logger` as one entry.
    static func log(_ event: Event, to logger: Logger) {
        logger.log(level: level(event.severity), "\(event.message)", metadata: metadata(event))
    }

    /// The entry's metadata: the event's own fields, then the event's identity, which wins over
    /// a field of the same name.
    static func metadata(_ event: Event) -> Logger.Metadata {
        var metadata = event.fields.mapValues { Logger.MetadataValue.string($0) }
        if event.subject.kind != .daemon { metadata[event.subject.kind.rawValue] = .string(event.subject.name) }
        metadata["event"] = .string(event.kind.rawValue)
        metadata["severity"] = .string(event.severity.rawValue)
        metadata["subject"] = .string(event.subject.name)
        metadata["subject_kind"] = .string(event.subject.kind.rawValue)
        return metadata
    }

    /// journald's priority for a severity: a recovery is a notice, a critical event is `crit`.
    static func level(_ severity: Severity) -> Logger.Level {
        switch severity {
        case .ok: .notice
        case .info: .info
        case .warning: .warning
        case .critical: .critical
        }
    }
}
