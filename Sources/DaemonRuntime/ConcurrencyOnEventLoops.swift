import CDaemonRuntime
import NIOCore
import NIOPosix

/// How opsd runs Swift concurrency so that an idle daemon does not wake up.
///
/// On Linux the default executor is libdispatch's thread pool, and the first job on it arms a
/// once-a-second monitor timer that runs for the life of the process: as many idle wakeups as
/// supervisord's tick. opsd instead runs every task on NIO's shared event loops, which sleep in
/// `epoll_wait` until there is I/O or a timer is due. Three rules keep libdispatch out for good:
/// sleep with `LoopClock`; run blocking work with `offload`, `onOwnThread` or `detachThread`; take
/// signals with `SignalInbox`.
///
/// The loops do not steal work from each other: a job that blocks a loop holds up whatever else
/// was queued there. Hence the rules on blocking work, and a watchdog that keeps time on a thread
/// of its own.
public enum DaemonRuntime {
    /// Makes NIO's shared event loops Swift concurrency's global executor.
    ///
    /// Call it once, from a synchronous `main`, before any task exists. Returns false when another
    /// hook was installed already (then tasks run on libdispatch as usual, and only the idle
    /// wakeups suffer).
    @discardableResult
    public static func runConcurrencyOnEventLoops() -> Bool {
        ops_install_enqueue_hook { job in
            // A job pointer is what UnownedJob wraps; the loop the caller runs on, if it is one of
            // the shared loops, takes it (no thread hop), otherwise the next one in turn.
            let job = unsafeBitCast(job, to: UnownedJob.self)
            MultiThreadedEventLoopGroup.singleton.any().enqueue(ExecutorJob(job))
        } == 1
    }
}
