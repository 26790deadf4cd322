import Synchronization

/// Where the domains put their events. Emitting never blocks and never fails: a supervisor that
/// is restarting a worker must not wait for a webhook.
public protocol EventSink: Sendable {
    /// Hands `event` on; returns at once.
    func emit(_ event: Event)
}

/// A sink that drops everything: for code run outside opsd (opsctl's in-process runs, tests that
/// do not look at events).
public struct DiscardingEventSink: EventSink {
    /// Creates the sink.
    public init() {}
    /// Drops `event`.
    public func emit(_ event: Event) {}
}

/// opsd's one event stream: every event emitted goes to every consumer (the alert routes, the
/// journal, the history), each through a bounded queue of its own, so a slow consumer drops its
/// own oldest events and never holds up the emitter or another consumer. It counts what was emitted
/// by kind and what each consumer dropped, for `/metrics` and `opsctl status`.
public final class EventBus: EventSink {
    private struct Consumer {
        var name: String
        var continuation: AsyncStream<Event>.Continuation
    }

    private struct State {
        var consumers: [Int: Consumer] = [:]
        var nextID = 0
        var emitted: [EventKind: Int] = [:]
        var emittedBySubject: [Subject: [EventKind: Int]] = [:]
        var dropped: [String: Int] = [:]
    }

    private let state = Mutex(State())

    /// Creates a bus with no consumer yet.
    public init() {}

    /// Hands `event` to every consumer.
    public func emit(_ event: Event) {
        state.withLock { state in
            state.emitted[event.kind, default: 0] += 1
            state.emittedBySubject[event.subject, default: [:]][event.kind, default: 0] += 1
            for consumer in state.consumers.values {
                if case .dropped = consumer.continuation.yield(event) {
                    state.dropped[consumer.name, default: 0] += 1
                }
            }
        }
    }

    /// A new consumer named `name` (`alerts`, `journal`, `history`): the events emitted from now
    /// on, at most `capacity` waiting (the oldest are dropped and counted beyond that). The stream
    /// ends when the task iterating it is cancelled, which removes the consumer.
    public func subscribe(_ name: String, capacity: Int = 1000) -> AsyncStream<Event> {
        let (stream, continuation) = AsyncStream.makeStream(of: Event.self, bufferingPolicy: .bufferingNewest(capacity))
        let id = state.withLock { state in
            defer { state.nextID += 1 }
            state.consumers[state.nextID] = Consumer(name: name, continuation: continuation)
            // Listed from the start, so /metrics shows a consumer's drops as a counter from 0.
            state.dropped[name, default: 0] += 0
            return state.nextID
        }
        continuation.onTermination = { [weak self] _ in
            _ = self?.state.withLock { $0.consumers.removeValue(forKey: id) }
        }
        return stream
    }

    /// Ends the streams of the consumers named `name`: each still gets the events queued for it,
    /// then its stream ends. What a consumer calls on graceful shutdown, once the emitters have
    /// stopped, so it drains its queue and returns instead of waiting for events that never come.
    public func finish(_ name: String) {
        let finishing = state.withLock { state in state.consumers.values.filter { $0.name == name }.map(\.continuation) }
        finishing.forEach { $0.finish() }
    }

    /// How many events of each kind were emitted since opsd started.
    public var emittedCounts: [EventKind: Int] { state.withLock { $0.emitted } }

    /// How many events of each kind were emitted about each subject since opsd started (the
    /// subjects are the configured names, so this stays small): `/metrics` counts worker failures
    /// by worker and reason from it.
    public var emittedCountsBySubject: [Subject: [EventKind: Int]] { state.withLock { $0.emittedBySubject } }

    /// How many events each consumer dropped because its queue was full; 0 for each consumer that
    /// subscribed and dropped nothing.
    public var droppedCounts: [String: Int] { state.withLock { $0.dropped } }
}
