/// When to try again after a failure, and how often: the delay before the first retry is
/// `initial`, each later one `factor` times the one before, never more than `maximum`.
///
/// The one rule behind a worker's restart backoff, a job's retries, an alert's redelivery and a
/// backup's push retries, so they cannot drift apart. A value with no clock and no sleep: each
/// caller waits in its own way (a loop timer in opsd, a blocked thread in the companion).
public struct RetryPolicy: Sendable, Equatable {
    /// The delay before the first retry.
    public var initial: Duration
    /// What each delay is multiplied by for the next retry (1: a fixed delay).
    public var factor: Int
    /// The longest delay; nil for no bound but the number of retries.
    public var maximum: Duration?
    /// How many retries follow the first attempt; nil when the caller decides when to stop
    /// (a worker's restarts end at its burst limit, not at a count).
    public var retries: Int?

    /// A policy; `factor` below 1 counts as 1, so delays never shrink.
    public init(initial: Duration, factor: Int = 2, maximum: Duration? = nil, retries: Int? = nil) {
        self.initial = initial
        self.factor = max(1, factor)
        self.maximum = maximum
        self.retries = retries
    }

    /// Delays stop growing here even without a `maximum`, so a long run of failures cannot
    /// overflow `Duration`'s arithmetic.
    static let ceiling = Duration.seconds(86_400 * 365)

    /// The delay before retry `retry` (1 for the first retry, that is the second attempt):
    /// `initial × factor^(retry − 1)`, capped at `maximum`. Retry 0 or less is the first attempt: no delay.
    public func delay(beforeRetry retry: Int) -> Duration {
        guard retry > 0 else { return .zero }
        let cap = min(maximum ?? Self.ceiling, Self.ceiling)
        var delay = initial
        for _ in 1..<retry {
            if delay >= cap { break }
            delay = delay * factor
        }
        return min(delay, cap)
    }

    /// True when retry `retry` (1 for the first) is within the policy's count.
    public func allows(retry: Int) -> Bool {
        retry >= 1 && retry <= (retries ?? .max)
    }

    /// Every delay of a policy with a count, in order (empty without one).
    public var delays: [Duration] {
        guard let retries, retries > 0 else { return [] }
        return (1...retries).map(delay(beforeRetry:))
    }
}
