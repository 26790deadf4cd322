import Glibc

/// Process signals received by a thread that waits for them in `sigwait`, handed on as an
/// async sequence.
///
/// The usual Swift way (ServiceLifecycle's `UnixSignalsSequence`) is a libdispatch signal source,
/// which starts libdispatch's worker pool and its once-a-second monitor on the first signal.
/// Here the signals stay blocked in every thread, and one thread that does nothing else takes
/// them: no handler runs at an arbitrary point, and nothing wakes until a signal comes.
public final class SignalInbox: Sendable {
    /// The signals, in the order they arrived.
    public let signals: AsyncStream<Int32>
    private let continuation: AsyncStream<Int32>.Continuation
    private let numbers: [Int32]

    /// Blocks `numbers` in the calling thread and so in every thread it starts later.
    ///
    /// Call it first thing in `main`, before any thread exists: a thread started earlier keeps
    /// its old mask and could take the signal the default way (for SIGTERM: die). Children get
    /// a clean mask from the spawner.
    public init(_ numbers: [Int32]) {
        self.numbers = numbers
        var set = Self.set(of: numbers)
        pthread_sigmask(SIG_BLOCK, &set, nil)
        (signals, continuation) = AsyncStream.makeStream(of: Int32.self, bufferingPolicy: .unbounded)
    }

    /// Takes the signals on the calling thread for the rest of the process's life.
    public func receiveForever() -> Never {
        var set = Self.set(of: numbers)
        while true {
            var number: Int32 = 0
            if sigwait(&set, &number) == 0 { continuation.yield(number) }
        }
    }

    private static func set(of numbers: [Int32]) -> sigset_t {
        var set = sigset_t()
        sigemptyset(&set)
        for number in numbers { sigaddset(&set, number) }
        return set
    }
}
