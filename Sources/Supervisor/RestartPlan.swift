public import OpsConfig
import Scheduling

/// The restart arithmetic of one worker: when a worker that ended is started again, if at all.
///
/// Kept free of processes and clocks so that it can be tested as a table: a first crash after a
/// healthy run restarts at once; quick crashes back off exponentially from the policy's initial
/// delay to its maximum; more starts than the burst limit within its window make the worker fatal.
public struct RestartPlan: Sendable {
    /// What to do after an exit.
    public enum Decision: Sendable, Equatable {
        /// Leave it down: the policy does not restart this kind of exit.
        case stayDown
        /// Start it again after this delay (zero: at once).
        case restart(after: Duration)
        /// Too many starts within the burst window: give up until an operator starts it.
        case fatal
    }

    let policy: RestartPolicy
    private(set) var quickFailures = 0
    private(set) var starts: [Duration] = []

    /// Creates the plan for a policy.
    public init(policy: RestartPolicy) {
        self.policy = policy
    }

    /// Records a start at `time` (any monotonic origin).
    public mutating func started(at time: Duration) {
        starts.append(time)
    }

    /// Decides after an exit at `time` of a run that began at `startedAt`.
    public mutating func decide(success: Bool, startedAt: Duration, at time: Duration) -> Decision {
        switch policy.mode {
        case .never: return .stayDown
        case .onFailure where success: return .stayDown
        default: break
        }
        if time - startedAt >= policy.resetAfter { quickFailures = 0 }
        starts.removeAll { time - $0 >= policy.burst.window }
        if starts.count >= policy.burst.count { return .fatal }
        defer { quickFailures += 1 }
        guard quickFailures > 0 else { return .restart(after: .zero) }
        // The first quick failure after a healthy run is retry 1 of the backoff.
        return .restart(after: policy.backoff.doubling().delay(beforeRetry: quickFailures))
    }

    /// Forgets the history, as `opsctl workers start` does for a fatal worker.
    public mutating func reset() {
        quickFailures = 0
        starts = []
    }
}
