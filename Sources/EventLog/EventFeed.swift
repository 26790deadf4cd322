import DaemonRuntime
import Synchronization

/// Wakes the readers that wait for an event newer than the one they saw (`opsctl events -f`), as
/// soon as the history stores one: no reader polls, and an idle opsd has no timer armed unless a
/// reader is waiting.
public final class EventFeed: Sendable {
    private struct Waiter {
        var after: Int64
        var continuation: CheckedContinuation<Bool, Never>
    }

    private struct State {
        var newestID: Int64
        var closed = false
        var waiters: [Int: Waiter] = [:]
        var nextWaiter = 0
    }

    private let state: Mutex<State>

    /// A feed whose newest stored event has `newestID`.
    public init(newestID: Int64 = 0) {
        state = Mutex(State(newestID: newestID))
    }

    /// The id of the newest event stored.
    public var newestID: Int64 { state.withLock { $0.newestID } }

    /// Whether ``close()`` was called: opsd is stopping and no wait lasts any more.
    public var isClosed: Bool { state.withLock { $0.closed } }

    /// Records that the history now holds events up to `id`, and wakes the readers waiting for it.
    public func stored(upTo id: Int64) {
        let woken = state.withLock { state -> [CheckedContinuation<Bool, Never>] in
            state.newestID = max(state.newestID, id)
            let ready = state.waiters.filter { $0.value.after < id }
            for key in ready.keys { state.waiters.removeValue(forKey: key) }
            return ready.values.map(\.continuation)
        }
        woken.forEach { $0.resume(returning: true) }
    }

    /// Ends every wait, now and later (opsd is stopping: a long poll must not hold up shutdown).
    public func close() {
        let woken = state.withLock { state -> [CheckedContinuation<Bool, Never>] in
            state.closed = true
            defer { state.waiters.removeAll() }
            return state.waiters.values.map(\.continuation)
        }
        woken.forEach { $0.resume(returning: false) }
    }

    /// Waits until an event with an id above `after` is stored, `timeout` passes, the task is
    /// cancelled or the feed is closed; returns whether such an event is there.
    public func wait(after: Int64, timeout: Duration) async -> Bool {
        await withTaskGroup(of: Bool.self) { group in
            group.addTask { await self.waitForever(after: after) }
            group.addTask {
                try? await Task.sleep(for: timeout, clock: .loop)
                return false
            }
            let first = await group.next() ?? false
            group.cancelAll()
            return first || newestID > after
        }
    }

    private func waitForever(after: Int64) async -> Bool {
        let key = state.withLock { state -> Int in
            defer { state.nextWaiter += 1 }
            return state.nextWaiter
        }
        return await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                let immediate: Bool? = state.withLock { state in
                    if state.newestID > after { return true }
                    if state.closed || Task.isCancelled { return false }
                    state.waiters[key] = Waiter(after: after, continuation: continuation)
                    return nil
                }
                if let immediate { continuation.resume(returning: immediate) }
            }
        } onCancel: {
            let waiter = state.withLock { $0.waiters.removeValue(forKey: key) }
            waiter?.continuation.resume(returning: false)
        }
    }
}
