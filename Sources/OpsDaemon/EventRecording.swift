public import Events
import EventLog
public import Logging
public import StateStore

/// What opsd does with its events besides alerting: the journal's and the history's consumers,
/// and the `/v1/events` endpoint that reads the history, made together because they share the
/// history and its feed.
public struct EventRecording: Sendable {
    /// One log entry per event.
    public let journal: EventJournalService
    /// The history in the state database.
    public let history: EventHistoryService
    /// `GET /v1/events`.
    public let endpoint: EventsEndpoint
    private let feed: EventFeed

    /// Subscribes both consumers to `bus` at once: call it before any domain runs, so the events
    /// of opsd's start are kept. The history lives in `database`.
    public init(bus: EventBus, database: StateDatabase, logger: Logger) async {
        let history = EventHistory(database: database)
        let newest: Int64
        do { newest = try await history.newestID() } catch {
            logger.error("cannot read the event history; followers start from scratch", metadata: ["error": "\(error)"])
            newest = 0
        }
        feed = EventFeed(newestID: newest)
        journal = EventJournalService(bus: bus, logger: logger)
        self.history = EventHistoryService(bus: bus, history: history, feed: feed, logger: logger)
        endpoint = EventsEndpoint(history: history, feed: feed)
    }

    /// Ends the long polls of `opsctl events -f`, now and later: opsd is stopping, and an open
    /// poll would hold up the control socket's shutdown.
    public func endFollowers() {
        feed.close()
    }
}
