@testable import Jobs
import OpsConfig
import Testing

@Suite struct RetryTests {
    @Test func retryDelaysDoubleUpToTheCap() {
        let backoff = DurationRange(lowerBound: .milliseconds(100), upperBound: .milliseconds(500))
        let delays = (1...5).map { JobRun.retryDelay(after: $0, backoff: backoff) }
        #expect(delays == [.milliseconds(100), .milliseconds(200), .milliseconds(400), .milliseconds(500), .milliseconds(500)])
    }
}
