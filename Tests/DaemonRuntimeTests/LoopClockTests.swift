import DaemonRuntime
import Testing

@Suite("LoopClock: sleeps on the event loops' timers")
struct LoopClockTests {
    @Test("a sleep ends at or after its deadline, never before")
    func endsAfterDeadline() async throws {
        let deadline = ContinuousClock.now + .milliseconds(50)
        try await Task.sleep(until: deadline, clock: .loop)
        #expect(ContinuousClock.now >= deadline)
    }

    @Test("a deadline already past returns at once, and a cancelled task's sleep throws")
    func pastDeadline() async throws {
        try await Task.sleep(until: ContinuousClock.now - .seconds(1), clock: .loop)
        let cancelled = Task {
            withUnsafeCurrentTask { $0?.cancel() }
            try await Task.sleep(until: ContinuousClock.now - .seconds(1), clock: .loop)
        }
        await #expect(throws: CancellationError.self) { try await cancelled.value }
    }

    @Test("cancelling a sleep of a millennium (beyond any timer's nanoseconds) ends it with CancellationError (no timer overflow)", .timeLimit(.minutes(1)))
    func cancelLongSleep() async throws {
        let sleeper = Task { try await Task.sleep(for: .seconds(1000 * 365 * 86_400), clock: .loop) }
        sleeper.cancel()
        await #expect(throws: CancellationError.self) { try await sleeper.value }
    }
}
