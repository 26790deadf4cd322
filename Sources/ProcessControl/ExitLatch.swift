import Synchronization

/// A child's exit, fired once by the reaper thread and awaited by one task, in either order:
/// how code that spawns through `ChildProcesses` (command jobs, plugins) waits for its child.
public final class ExitLatch: Sendable {
    private let state = Mutex<(status: ExitStatus?, waiter: CheckedContinuation<ExitStatus, Never>?)>((nil, nil))

    /// An unfired latch.
    public init() {}

    /// Whether the exit has arrived.
    public var hasFired: Bool { state.withLock { $0.status != nil } }

    /// Delivers the exit status (pass this as the spawn's `onExit`).
    public func fire(_ status: ExitStatus) {
        let waiter = state.withLock { state -> CheckedContinuation<ExitStatus, Never>? in
            state.status = status
            defer { state.waiter = nil }
            return state.waiter
        }
        waiter?.resume(returning: status)
    }

    /// The exit status, once it has arrived.
    public func wait() async -> ExitStatus {
        await withCheckedContinuation { continuation in
            let ready = state.withLock { state -> ExitStatus? in
                if let status = state.status { return status }
                state.waiter = continuation
                return nil
            }
            if let ready { continuation.resume(returning: ready) }
        }
    }
}
