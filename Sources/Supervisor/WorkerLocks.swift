/// One turn at a time per worker, for the supervisor's operations that start or stop processes.
///
/// The supervisor is an actor, and actors are reentrant: while `launch` waits for the spawner to
/// return a pid, or `stop` waits for the exit, another request for the same worker enters. Without
/// turns, eight parallel `workers start` launched eight processes and the supervisor tracked one.
/// A turn is held across those suspensions; whoever comes next waits, in arrival order, and then
/// sees the state the previous turn left (a running worker is not started twice).
///
/// Used only from inside the actor, so it needs no lock of its own.
struct WorkerLocks {
    private var held: Set<String> = []
    private var waiting: [String: [CheckedContinuation<Void, Never>]] = [:]

    /// True when `name` was free and is now held; false when the caller must `enqueue` and wait.
    mutating func tryAcquire(_ name: String) -> Bool {
        held.insert(name).inserted
    }

    /// Queues a waiter for `name`; `release` resumes it with the turn already handed over.
    mutating func enqueue(_ name: String, _ continuation: CheckedContinuation<Void, Never>) {
        waiting[name, default: []].append(continuation)
    }

    /// Ends the current turn on `name`: the next waiter gets it, or the name becomes free.
    mutating func release(_ name: String) {
        guard var queue = waiting[name], !queue.isEmpty else {
            held.remove(name)
            return
        }
        let next = queue.removeFirst()
        waiting[name] = queue.isEmpty ? nil : queue
        next.resume()
    }
}
