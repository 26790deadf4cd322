import Foundation
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
public func detachThread(named name: String, _ body: @escaping @Sendable () -> Void) {
    let thread = Thread(block: body)
    thread.name = name
    thread.start()
}

/// Runs blocking work that may take long (a check stuck on a busy database, a VACUUM) on a
/// thread of its own and returns its result: unlike `offload`, whose pool has one thread per
/// core, it never waits behind other slow work, so one stuck caller delays no other.
public func onOwnThread<T: Sendable>(named name: String, _ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        detachThread(named: name) {
            continuation.resume(with: Result { try body() })
        }
    }
}
