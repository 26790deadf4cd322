import Scheduling
import Testing

/// The one retry rule: the delays each of its four users had written by hand, now computed here.
@Suite struct RetryPolicyTests {
    @Test("a worker's restart backoff (1s..60s): doubling from the first quick failure, capped at 60 s")
    func restartBackoff() {
        let policy = RetryPolicy(initial: .seconds(1), factor: 2, maximum: .seconds(60))
        #expect((1...9).map(policy.delay(beforeRetry:)) == [1, 2, 4, 8, 16, 32, 60, 60, 60].map { Duration.seconds($0) })
        #expect(policy.allows(retry: 1_000_000), "restarts have no count: the burst limit ends them")
    }

    @Test("a job's retries: as many as configured, doubling up to the cap")
    func jobRetries() {
        let policy = RetryPolicy(initial: .milliseconds(100), maximum: .milliseconds(500), retries: 2)
        #expect(policy.delays == [.milliseconds(100), .milliseconds(200)])
        #expect(policy.allows(retry: 2) && !policy.allows(retry: 3) && !policy.allows(retry: 0))
        #expect(policy.delay(beforeRetry: 5) == .milliseconds(500))
    }

    @Test("webhook redelivery: 1 s, 4 s, 15 s; a push: 2 s, 4 s, 8 s with no cap")
    func alertAndPush() {
        #expect(RetryPolicy(initial: .seconds(1), factor: 4, maximum: .seconds(15), retries: 3).delays == [.seconds(1), .seconds(4), .seconds(15)])
        #expect(RetryPolicy(initial: .seconds(2), retries: 3).delays == [.seconds(2), .seconds(4), .seconds(8)])
    }

    @Test("a long run of failures without a maximum saturates instead of overflowing; a factor below 1 is a fixed delay")
    func bounds() {
        let unbounded = RetryPolicy(initial: .seconds(1))
        #expect(unbounded.delay(beforeRetry: 500) == .seconds(86_400 * 365))
        #expect(RetryPolicy(initial: .seconds(3), factor: 0, retries: 2).delays == [.seconds(3), .seconds(3)])
        #expect(unbounded.delay(beforeRetry: 0) == .zero)
    }

    @Test("Duration.seconds keeps fractions")
    func durationSeconds() {
        #expect(Duration.milliseconds(1500).seconds == 1.5)
        #expect(Duration.seconds(86_400).seconds == 86_400)
        #expect((Duration.seconds(2) + .nanoseconds(1)).seconds > 2)
    }
}
