import OpsConfig
import Testing
@testable import Supervisor

@Suite("Restart arithmetic")
struct RestartPlanTests {
    let policy = RestartPolicy(
        mode: .always, backoff: DurationRange(lowerBound: .seconds(1), upperBound: .seconds(8)),
        burst: BurstLimit(count: 6, window: .seconds(60)), resetAfter: .seconds(30)
    )

    /// Starts at `time`, then exits `ranFor` later; returns the decision.
    func cycle(_ plan: inout RestartPlan, at time: Duration, ranFor: Duration, success: Bool = false) -> RestartPlan.Decision {
        plan.started(at: time)
        return plan.decide(success: success, startedAt: time, at: time + ranFor)
    }

    @Test("a crash loop: at once, then 1s, 2s, 4s, 8s, then fatal at the burst limit")
    func crashLoop() {
        var plan = RestartPlan(policy: policy)
        var time = Duration.zero
        var decisions: [RestartPlan.Decision] = []
        for _ in 0..<6 {
            let decision = cycle(&plan, at: time, ranFor: .milliseconds(10))
            decisions.append(decision)
            if case .restart(let delay) = decision { time += .milliseconds(10) + delay }
        }
        #expect(decisions == [
            .restart(after: .zero), .restart(after: .seconds(1)), .restart(after: .seconds(2)),
            .restart(after: .seconds(4)), .restart(after: .seconds(8)), .fatal,
        ])
    }

    @Test("the delay stops growing at the maximum")
    func cappedDelay() {
        let patient = RestartPolicy(mode: .always, backoff: policy.backoff, burst: BurstLimit(count: 100, window: .seconds(60)), resetAfter: .seconds(30))
        var plan = RestartPlan(policy: patient)
        var last: RestartPlan.Decision = .stayDown
        for index in 0..<10 { last = cycle(&plan, at: .seconds(Int64(index)), ranFor: .milliseconds(1)) }
        #expect(last == .restart(after: .seconds(8)))
    }

    @Test("a worker that stayed up past reset_after restarts at once again")
    func resetAfterHealthyRun() {
        var plan = RestartPlan(policy: policy)
        _ = cycle(&plan, at: .zero, ranFor: .milliseconds(10))
        #expect(cycle(&plan, at: .seconds(1), ranFor: .milliseconds(10)) == .restart(after: .seconds(1)))
        #expect(cycle(&plan, at: .seconds(3), ranFor: .seconds(45)) == .restart(after: .zero))
    }

    @Test("starts older than the burst window no longer count")
    func burstWindowSlides() {
        let slow = RestartPolicy(mode: .always, backoff: policy.backoff, burst: BurstLimit(count: 2, window: .seconds(10)), resetAfter: .seconds(30))
        var plan = RestartPlan(policy: slow)
        _ = cycle(&plan, at: .zero, ranFor: .milliseconds(10))
        #expect(cycle(&plan, at: .seconds(1), ranFor: .milliseconds(10)) == .fatal)
        var later = RestartPlan(policy: slow)
        _ = cycle(&later, at: .zero, ranFor: .milliseconds(10))
        #expect(cycle(&later, at: .seconds(20), ranFor: .milliseconds(10)) != .fatal)
    }

    @Test("policies: never stays down; on-failure ignores a clean exit but not a crash")
    func policies() {
        var never = RestartPlan(policy: RestartPolicy(mode: .never))
        #expect(cycle(&never, at: .zero, ranFor: .seconds(1)) == .stayDown)
        var onFailure = RestartPlan(policy: RestartPolicy(mode: .onFailure))
        #expect(cycle(&onFailure, at: .zero, ranFor: .seconds(1), success: true) == .stayDown)
        #expect(cycle(&onFailure, at: .seconds(2), ranFor: .seconds(1), success: false) == .restart(after: .zero))
        var always = RestartPlan(policy: RestartPolicy(mode: .always))
        #expect(cycle(&always, at: .zero, ranFor: .seconds(1), success: true) == .restart(after: .zero))
    }

    @Test("reset forgets the history, as opsctl workers start does")
    func reset() {
        var plan = RestartPlan(policy: policy)
        for index in 0..<5 { _ = cycle(&plan, at: .seconds(Int64(index)), ranFor: .milliseconds(1)) }
        plan.reset()
        #expect(cycle(&plan, at: .seconds(6), ranFor: .milliseconds(1)) == .restart(after: .zero))
    }
}
