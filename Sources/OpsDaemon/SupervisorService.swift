import ControlPlane
public import ProcessControl
public import ServiceLifecycle
public import Supervisor
public import Systemd
import Synchronization

/// Runs the supervisor inside the service group: workers start with the daemon and stop, in
/// reverse start order, when it shuts down.
public struct SupervisorService: Service {
    let supervisor: Supervisor
    /// Opens once the initial workers have been launched; READY=1 waits for it.
    public let launched = Latch()

    /// Creates the service.
    public init(supervisor: Supervisor) {
        self.supervisor = supervisor
    }

    /// Starts the workers, waits for graceful shutdown, stops the workers.
    public func run() async throws {
        try await supervisor.startAll()
        launched.open()
        try? await gracefulShutdown()
        await supervisor.stopAll()
    }
}

/// A one-way gate: `wait()` returns once `open()` has been called, at once thereafter.
public final class Latch: Sendable {
    private let state = Mutex<(isOpen: Bool, waiters: [(id: ObjectIdentifier, continuation: CheckedContinuation<Void, Never>)])>((false, []))

    /// Creates a closed latch.
    public init() {}

    /// Opens the latch and releases every waiter.
    public func open() {
        let waiters = state.withLock { state -> [(id: ObjectIdentifier, continuation: CheckedContinuation<Void, Never>)] in
            state.isOpen = true
            defer { state.waiters = [] }
            return state.waiters
        }
        waiters.forEach { $0.continuation.resume() }
    }

    /// Returns once the latch is open, or when the task is cancelled (check `Task.isCancelled`).
    public func wait() async {
        let id = ObjectIdentifier(Box())
        await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                let resumeNow = state.withLock { state -> Bool in
                    if state.isOpen { return true }
                    state.waiters.append((id, continuation))
                    return false
                }
                if resumeNow { continuation.resume() }
            }
        } onCancel: {
            let waiter = state.withLock { state -> CheckedContinuation<Void, Never>? in
                guard let index = state.waiters.firstIndex(where: { $0.id == id }) else { return nil }
                return state.waiters.remove(at: index).continuation
            }
            waiter?.resume()
        }
    }

    private final class Box {}
}

/// Proves the supervisor's actor and the spawner thread both answer.
public struct SupervisorProbe: LivenessProbe {
    let supervisor: Supervisor
    let children: ChildProcesses

    /// Creates the probe.
    public init(supervisor: Supervisor, children: ChildProcesses) {
        self.supervisor = supervisor
        self.children = children
    }

    /// "supervisor"
    public var name: String { "supervisor" }

    /// Calls into the actor, then round-trips through the spawner thread.
    public func probe() async throws {
        await supervisor.heartbeat()
        await children.ping()
    }
}
