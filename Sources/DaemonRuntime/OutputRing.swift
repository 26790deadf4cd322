import Synchronization

/// The newest bytes a child wrote, bounded: the tail of a job's run, or the recent output of a
/// worker outside journald (`opsctl logs`).
///
/// Storage is taken on the first write, so a silent child costs nothing but this object; after
/// that it never grows past `capacity`. Older bytes are overwritten, never moved. There are no
/// timers: it only changes when its child writes.
public final class OutputRing: Sendable {
    /// The most bytes kept.
    public let capacity: Int
    private let state: Mutex<State>

    private struct State {
        var bytes: [UInt8] = []
        /// Where the next byte goes once `bytes` is full.
        var next = 0
        /// Whether older bytes were overwritten (then the oldest line is cut).
        var wrapped = false
        /// Bytes ever appended: what a reader that follows the output waits to see change.
        var total: UInt64 = 0
        /// Relays still reading a child's output into the ring.
        var writers = 0
        /// Who waits for the writers to finish.
        var waiting: [Int: CheckedContinuation<Void, Never>] = [:]
        var nextWaiter = 0
    }

    /// A ring keeping the last `capacity` bytes.
    public init(capacity: Int) {
        self.capacity = max(1, capacity)
        self.state = Mutex(State())
    }

    /// Adds `chunk` as the newest output.
    public func append(_ chunk: some Collection<UInt8>) {
        let capacity = self.capacity
        state.withLock { state in
            state.total += UInt64(chunk.count)
            for byte in chunk.suffix(capacity) {
                if state.bytes.count < capacity {
                    if state.bytes.isEmpty { state.bytes.reserveCapacity(capacity) }
                    state.bytes.append(byte)
                } else {
                    state.bytes[state.next] = byte
                    state.next = (state.next + 1) % capacity
                    state.wrapped = true
                }
            }
            if chunk.count > capacity { state.wrapped = true }
        }
    }

    /// A relay starts reading a child's output into the ring.
    public func attach() {
        state.withLock { $0.writers += 1 }
    }

    /// A relay has read the end of its child's output.
    public func detach() {
        let waiting: [CheckedContinuation<Void, Never>] = state.withLock { state in
            state.writers = max(0, state.writers - 1)
            guard state.writers == 0 else { return [] }
            defer { state.waiting = [:] }
            return Array(state.waiting.values)
        }
        for continuation in waiting { continuation.resume() }
    }

    /// Returns once every relay has read its child's output to the end: a child's exit comes
    /// before its last bytes are read, and a run's tail must hold them. Cancelling the task
    /// ends the wait too.
    public func drained() async {
        let id = state.withLock { state in
            defer { state.nextWaiter += 1 }
            return state.nextWaiter
        }
        await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                let now = state.withLock { state in
                    if state.writers == 0 || Task.isCancelled { return true }
                    state.waiting[id] = continuation
                    return false
                }
                if now { continuation.resume() }
            }
        } onCancel: {
            state.withLock { $0.waiting.removeValue(forKey: id) }?.resume()
        }
    }

    /// Bytes appended so far, the overwritten ones included.
    public var totalBytes: UInt64 { state.withLock { $0.total } }

    /// The newest `count` lines, oldest first, without their newlines. When older output was
    /// overwritten the first kept line is incomplete and left out (unless it is the only one).
    public func lastLines(_ count: Int) -> [String] {
        guard count > 0 else { return [] }
        let (text, wrapped): ([UInt8], Bool) = state.withLock { state in
            (Array(state.bytes[state.next...] + state.bytes[..<state.next]), state.wrapped)
        }
        var lines = text.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false)
        if lines.last?.isEmpty == true { lines.removeLast() }
        if wrapped, lines.count > 1 { lines.removeFirst() }
        return lines.suffix(count).map { String(decoding: $0, as: UTF8.self) }
    }
}
