public import NIOCore
import NIOPosix

/// `ContinuousClock`'s time, with sleeps served by a NIO event loop's timers.
///
/// Swift's own `Task.sleep` hands every sleep to libdispatch on Linux, and the first use starts
/// libdispatch's worker pool, whose monitor then wakes the process once a second for good. An
/// idle opsd is meant not to wake at all, so every sleep in the daemon goes through this clock:
/// `try await Task.sleep(for: delay, clock: .loop)`. A sleep is one timer in the loop's epoll
/// wait, and cancelling the task cancels the timer.
public struct LoopClock: Clock {
    public typealias Instant = ContinuousClock.Instant
    public typealias Duration = Swift.Duration

    /// The loop whose timers serve the sleeps.
    let loop: any EventLoop

    /// A clock on `loop`; by default one of NIO's shared event loops.
    public init(loop: (any EventLoop)? = nil) {
        self.loop = loop ?? MultiThreadedEventLoopGroup.singleton.any()
    }

    /// The continuous clock's now.
    public var now: Instant { ContinuousClock.now }

    /// The continuous clock's resolution.
    public var minimumResolution: Duration { ContinuousClock().minimumResolution }

    /// Suspends until `deadline`; throws `CancellationError` when the task is cancelled first.
    public func sleep(until deadline: Instant, tolerance: Duration? = nil) async throws {
        // In pieces of at most a day, so that no deadline, however far, overflows a timer.
        while true {
            let remaining = ContinuousClock.now.duration(to: deadline)
            guard remaining > .zero else {
                try Task.checkCancellation()
                return
            }
            try await sleep(for: min(remaining, Self.longestPiece))
        }
    }

    static let longestPiece = Duration.seconds(86_400)

    private func sleep(for piece: Duration) async throws {
        let timer = loop.scheduleTask(in: .nanoseconds(Int64(piece.nanoseconds))) {}
        try await withTaskCancellationHandler {
            do {
                try await timer.futureResult.get()
            } catch is EventLoopError {
                throw CancellationError()
            }
        } onCancel: {
            timer.cancel()
        }
    }
}

extension Clock where Self == LoopClock {
    /// The event-loop clock: `Task.sleep(for: .seconds(5), clock: .loop)`.
    public static var loop: LoopClock { LoopClock() }
}

extension Duration {
    /// The duration in whole nanoseconds, clamped at zero: what NIO's timers, dispatch timeouts
    /// and random jitter take.
    public var nanoseconds: Int {
        max(0, Int(components.seconds) * 1_000_000_000 + Int(components.attoseconds / 1_000_000_000))
    }
}
