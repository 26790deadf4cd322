import Synchronization

/// The newest bytes a child wrote, bounded: the tail of a job's run, or the recent output of a
/// worker outside journald (`opsctl logs`, and `-f` following it).
///
/// Storage is taken on the first write, so a silent child costs nothing but this object; after
/// that it never grows past `capacity`. Older bytes are overwritten, never moved. There are no
/// timers: it only changes when its child writes, and that write wakes whoever waits for it.
public final class OutputRing: Sendable {
    /// The most bytes kept.
    public let capacity: Int
    private let state: Mutex<State>

    /// What a waiter waits for.
    private enum Condition {
        /// Every relay has read its child's output to the end.
        case drained
        /// More than this many bytes were ever appended.
        case beyond(UInt64)
    }

    private struct Waiter {
        var condition: Condition
        var continuation: CheckedContinuation<Void, Never>
    }

    private struct State {
        var bytes: [UInt8] = []
        /// Where the next byte goes once `bytes` is full.
        var next = 0
        /// Bytes ever appended: positions in the output, what a follower waits to see grow.
        var total: UInt64 = 0
        /// Relays still reading a child's output into the ring.
        var writers = 0
        /// No more output will come (the run it kept has ended): followers stop waiting.
        var closed = false
        var waiting: [Int: Waiter] = [:]
        var nextWaiter = 0

        /// Whether older bytes were overwritten (then the oldest line is cut).
        var wrapped: Bool { total > UInt64(bytes.count) }

        func holds(_ condition: Condition) -> Bool {
            switch condition {
            case .drained: writers == 0
            case .beyond(let position): total > position || closed
            }
        }

        /// The waiters whose condition holds now, removed.
        mutating func ready() -> [CheckedContinuation<Void, Never>] {
            let ready = waiting.filter { holds($0.value.condition) }
            for key in ready.keys { waiting.removeValue(forKey: key) }
            return ready.values.map(\.continuation)
        }

        /// The kept bytes, oldest first.
        var ordered: [UInt8] { Array(bytes[next...] + bytes[..<next]) }
    }

    /// A ring keeping the last `capacity` bytes.
    public init(capacity: Int) {
        self.capacity = max(1, capacity)
        self.state = Mutex(State())
    }

    /// Adds `chunk` as the newest output, and wakes the followers waiting for it.
    public func append(_ chunk: some Collection<UInt8>) {
        let capacity = self.capacity
        let woken = state.withLock { state in
            state.total += UInt64(chunk.count)
            for byte in chunk.suffix(capacity) {
                if state.bytes.count < capacity {
                    if state.bytes.isEmpty { state.bytes.reserveCapacity(capacity) }
                    state.bytes.append(byte)
                } else {
                    state.bytes[state.next] = byte
                    state.next = (state.next + 1) % capacity
                }
            }
            return state.waiting.isEmpty ? [] : state.ready()
        }
        for continuation in woken { continuation.resume() }
    }

    /// A relay starts reading a child's output into the ring.
    public func attach() {
        state.withLock { $0.writers += 1 }
    }

    /// A relay has read the end of its child's output.
    public func detach() {
        let woken = state.withLock { state in
            state.writers = max(0, state.writers - 1)
            return state.ready()
        }
        for continuation in woken { continuation.resume() }
    }

    /// Returns once every relay has read its child's output to the end: a child's exit comes
    /// before its last bytes are read, and a run's tail must hold them. Cancelling the task
    /// ends the wait too.
    public func drained() async {
        await wait(for: .drained)
    }

    /// Says that no more output will come (the run whose output this kept has ended), and wakes
    /// every follower: a wait for more returns at once from now on.
    public func close() {
        let woken = state.withLock { state in
            state.closed = true
            return state.ready()
        }
        for continuation in woken { continuation.resume() }
    }

    /// Whether `close()` was called.
    public var isClosed: Bool { state.withLock { $0.closed } }

    /// Returns once more than `position` bytes were ever appended, the ring was closed, or the
    /// task is cancelled.
    public func wait(beyond position: UInt64) async {
        await wait(for: .beyond(position))
    }

    private func wait(for condition: Condition) async {
        let id = state.withLock { state in
            defer { state.nextWaiter += 1 }
            return state.nextWaiter
        }
        await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                let now = state.withLock { state in
                    if state.holds(condition) || Task.isCancelled { return true }
                    state.waiting[id] = Waiter(condition: condition, continuation: continuation)
                    return false
                }
                if now { continuation.resume() }
            }
        } onCancel: {
            state.withLock { $0.waiting.removeValue(forKey: id) }?.continuation.resume()
        }
    }

    /// Bytes appended so far, the overwritten ones included: the position a follower starts at.
    public var totalBytes: UInt64 { state.withLock { $0.total } }

    /// The newest `count` lines, oldest first, without their newlines. When older output was
    /// overwritten the first kept line is incomplete and left out (unless it is the only one).
    public func lastLines(_ count: Int) -> [String] {
        guard count > 0 else { return [] }
        let (text, wrapped) = state.withLock { ($0.ordered, $0.wrapped) }
        var lines = text.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false)
        if lines.last?.isEmpty == true { lines.removeLast() }
        if wrapped, lines.count > 1 { lines.removeFirst() }
        return lines.suffix(count).map { String(decoding: $0, as: UTF8.self) }
    }

    /// The complete lines written after `position` (from the oldest kept byte when those were
    /// overwritten, or when `position` is from before opsd started), the position after them,
    /// and the bytes appended so far. A line as long as the whole ring counts as complete, so a
    /// follower is never stuck behind it; with `includingPartial` (the output has ended) so does
    /// a last line without its newline.
    public func lines(after position: UInt64, includingPartial: Bool = false) -> (lines: [String], position: UInt64, total: UInt64) {
        let (text, total) = state.withLock { ($0.ordered, $0.total) }
        let oldest = total - UInt64(text.count)
        let start = position < oldest || position > total ? oldest : position
        let fresh = text[Int(start - oldest)...]
        guard let newline = fresh.lastIndex(of: UInt8(ascii: "\n")) else {
            guard fresh.count == capacity || (includingPartial && !fresh.isEmpty) else { return ([], start, total) }
            return ([String(decoding: fresh, as: UTF8.self)], total, total)
        }
        let complete = fresh[..<newline]
        var lines = complete.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false).map { String(decoding: $0, as: UTF8.self) }
        let rest = fresh[fresh.index(after: newline)...]
        if includingPartial && !rest.isEmpty {
            lines.append(String(decoding: rest, as: UTF8.self))
            return (lines, total, total)
        }
        return (lines, start + UInt64(complete.count + 1), total)
    }

    /// The oldest position still kept: a follower behind it has missed the bytes in between.
    public var oldestKept: UInt64 { state.withLock { $0.total - UInt64($0.bytes.count) } }
}
