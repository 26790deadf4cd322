public import EventLog
public import Events
public import Logging
public import ServiceLifecycle
import Synchronization

/// The history's consumer of the event stream: stores every event in the state database
/// (`EventHistory`) and wakes the readers that follow it (`EventFeed`, `opsctl events -f`).
///
/// A write takes what queued up while the previous one ran, in one transaction, so a burst of
/// events (twenty workers failing at once) costs one write, not twenty. The database runs on the
/// blocking pool; the bus never waits for it (its queue for this consumer drops the oldest when
/// full, counted as `history` in the bus's drop counts).
public struct EventHistoryService: Service {
    /// The consumer's name on the bus, in its drop counts.
    public static let consumerName = "history"

    private let bus: EventBus
    private let stream: AsyncStream<Event>
    private let history: EventHistory
    private let feed: EventFeed
    private let capacity: Int
    private let logger: Logger

    /// Subscribes to `bus` now, so the events emitted before the group runs are stored too; at
    /// most `capacity` events wait on the bus, and as many more while a write is under way.
    public init(bus: EventBus, history: EventHistory, feed: EventFeed, logger: Logger, capacity: Int = 1000) {
        self.bus = bus
        self.history = history
        self.feed = feed
        self.capacity = max(capacity, 1)
        self.logger = logger
        stream = bus.subscribe(Self.consumerName, capacity: self.capacity)
    }

    /// Stores events until graceful shutdown, then what is still queued, and returns.
    public func run() async throws {
        let pending = PendingEvents(capacity: capacity)
        await withGracefulShutdownHandler {
            await withDiscardingTaskGroup { group in
                group.addTask { [stream] in
                    for await event in stream { pending.add(event) }
                    pending.finish()
                }
                while let next = await pending.next() {
                    let (batch, dropped) = next
                    if dropped > 0 {
                        logger.error("the event history fell behind; events were left out of it (they are in the journal)", metadata: ["dropped": "\(dropped)"])
                    }
                    await store(batch)
                }
            }
        } onGracefulShutdown: { [bus] in
            bus.finish(Self.consumerName)
        }
    }

    private func store(_ batch: [Event]) async {
        do {
            if let newest = try await history.append(batch).last { feed.stored(upTo: newest) }
        } catch {
            logger.error("cannot store events in the history (they are in the journal)", metadata: ["events": "\(batch.count)", "error": "\(error)"])
        }
    }
}

/// The events taken from the bus and not yet written: one writer waits for them, and takes them
/// all at once.
final class PendingEvents: Sendable {
    private struct State {
        var events: [Event] = []
        var dropped = 0
        var finished = false
        var writer: CheckedContinuation<([Event], Int)?, Never>?
    }

    private let state = Mutex(State())
    private let capacity: Int

    init(capacity: Int) {
        self.capacity = capacity
    }

    /// Queues `event` or hands it to the waiting writer; beyond `capacity` the oldest is dropped.
    func add(_ event: Event) {
        let writer = state.withLock { state -> CheckedContinuation<([Event], Int)?, Never>? in
            if let writer = state.writer {
                state.writer = nil
                return writer
            }
            if state.events.count >= capacity {
                state.events.removeFirst()
                state.dropped += 1
            }
            state.events.append(event)
            return nil
        }
        writer?.resume(returning: ([event], 0))
    }

    /// No more events will be added: the writer takes what is queued, then gets nil.
    func finish() {
        let writer = state.withLock { state in
            state.finished = true
            defer { state.writer = nil }
            return state.writer
        }
        writer?.resume(returning: nil)
    }

    /// Everything queued and how many were dropped since the last call, once there is something;
    /// nil once finished and empty.
    func next() async -> ([Event], Int)? {
        await withCheckedContinuation { continuation in
            let now = state.withLock { state -> ([Event], Int)?? in
                if !state.events.isEmpty || state.dropped > 0 {
                    defer { state.events = []; state.dropped = 0 }
                    return .some((state.events, state.dropped))
                }
                if state.finished { return .some(nil) }
                state.writer = continuation
                return nil
            }
            if let now { continuation.resume(returning: now) }
        }
    }
}
