import NIOCore
import NIOPosix

/// How opsd runs Swift concurrency so that an idle daemon does not wake up.
///
/// On Linux the default executor is libdispatch's thread pool, and the first job on it arms a
/// once-a-second monitor timer that runs for the life of the process: as many idle wakeups as
/// supervisord's tick. opsd instead runs every task on NIO's event loops, which sleep in
/// `epoll_wait` until there is I/O or a timer is due. Three rules keep libdispatch out for good:
/// sleep with `LoopClock`, run blocking work with `offload` or `detachThread`, and take signals
/// with `SignalInbox`.
public enum DaemonRuntime {
    /// Makes NIO's shared event loops Swift concurrency's global executor.
    ///
    /// Call it once, from a synchronous `main`, before any task exists. Returns false when the
    /// runtime refused (then tasks run on libdispatch as usual, and only the wakeups suffer).
    @discardableResult
    public static func runConcurrencyOnEventLoops() -> Bool {
        NIOSingletons.unsafeTryInstallSingletonPosixEventLoopGroupAsConcurrencyGlobalExecutor()
    }
}
