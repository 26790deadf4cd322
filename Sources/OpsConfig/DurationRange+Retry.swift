public import Scheduling

extension DurationRange {
    /// The range as a backoff (`backoff: 1s..60s`, `retry_backoff:`): delays that start at the
    /// lower bound and double up to the upper bound, for `retries` retries (nil: no count).
    /// A worker's restarts and a job's retries both read their range this way.
    public func doubling(retries: Int? = nil) -> RetryPolicy {
        RetryPolicy(initial: lowerBound, factor: 2, maximum: upperBound, retries: retries)
    }
}
