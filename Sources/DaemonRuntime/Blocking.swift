import CDaemonRuntime
import Glibc
import NIOPosix

/// Runs short blocking work (a write to the state database) on NIO's blocking thread pool and
/// returns its result.
///
/// The tasks of an async program share a few threads (here the event loops); one blocked in the
/// kernel must not stall the others. libdispatch's global queues would do it too, but starting
/// them makes libdispatch wake the process once a second forever (see `LoopClock`).
public func offload<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await NIOThreadPool.singleton.runIfActive { try body() }
}

/// Runs `body` on a thread of its own, for work that blocks until some outside event: waiting
/// for one child's exit, reading a pipe to its end. Such waits can last as long as the child,
/// so they do not belong in a fixed-size pool.
///
/// Throws `ThreadError` when the system refuses a new thread (its thread or memory limit).
public func detachThread(named name: String, _ body: @escaping @Sendable () -> Void) throws(ThreadError) {
    let start = Unmanaged.passRetained(ThreadStart(name: name, body: body))
    var attributes = pthread_attr_t()
    pthread_attr_init(&attributes)
    defer { pthread_attr_destroy(&attributes) }
    pthread_attr_setdetachstate(&attributes, Int32(PTHREAD_CREATE_DETACHED))
    var thread = pthread_t()
    let result = pthread_create(&thread, &attributes, { argument in
        guard let argument else { return nil }
        let start = Unmanaged<ThreadStart>.fromOpaque(argument).takeRetainedValue()
        ops_name_thread(start.name)
        start.body()
        return nil
    }, start.toOpaque())
    guard result == 0 else {
        start.release()
        throw ThreadError(code: result, name: name)
    }
}

/// What a new thread runs, handed over through pthread_create's one pointer.
private final class ThreadStart: Sendable {
    let name: String
    let body: @Sendable () -> Void

    init(name: String, body: @escaping @Sendable () -> Void) {
        self.name = name
        self.body = body
    }
}

/// The system refused a new thread.
public struct ThreadError: Error, CustomStringConvertible, Sendable {
    /// pthread_create's error number.
    public let code: Int32
    /// The thread's intended name.
    public let name: String

    public var description: String {
        "cannot start a thread for \(name): \(String(cString: strerror(code))); the system's thread or memory limit is reached"
    }
}

/// Runs blocking work that may take long (a check stuck on a busy database, a VACUUM) on a
/// thread of its own and returns its result: unlike `offload`, whose pool has one thread per
/// core, it never waits behind other slow work, so one stuck caller delays no other.
public func onOwnThread<T: Sendable>(named name: String, _ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        do {
            try detachThread(named: name) {
                continuation.resume(with: Result { try body() })
            }
        } catch {
            continuation.resume(throwing: error)
        }
    }
}
