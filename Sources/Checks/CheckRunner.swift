import DaemonRuntime
/// Runs checks on their own intervals, concurrently: one task per check, so a slow check never
/// delays another, and each check's runs follow one another, so a check never overlaps itself
/// (a run that overruns its interval is followed at once by the next, not by two).
///
/// Start times carry jitter: the first run comes within the first tenth of the interval (at most
/// 2 s), later ones ±5 % (at most 5 s), so fifty checks with `every: 1m` do not all fire in the
/// same millisecond. The scheduler can take this over later; the contract is `run()` until
/// cancelled, and every result goes to `sink`.
public struct CheckRunner: Sendable {
    private let checks: [ConfiguredCheck]
    private let sink: @Sendable (String, CheckResult) async -> Void

    /// Creates a runner for `checks`; `sink` receives every result.
    public init(checks: [ConfiguredCheck], sink: @escaping @Sendable (String, CheckResult) async -> Void) {
        self.checks = checks
        self.sink = sink
    }

    /// Runs every check until the calling task is cancelled.
    public func run() async {
        await withDiscardingTaskGroup { group in
            for check in checks {
                group.addTask { await loop(check) }
            }
        }
    }

    private func loop(_ check: ConfiguredCheck) async {
        let every = check.spec.every
        var next = ContinuousClock.now + Self.initialDelay(every)
        while !Task.isCancelled {
            do { try await Task.sleep(until: next, clock: .loop) } catch { return }
            let started = ContinuousClock.now
            let result = await check.run()
            guard !Task.isCancelled else { return }
            await sink(check.name, result)
            next = max(started + every + Self.jitter(every), ContinuousClock.now)
        }
    }

    static func initialDelay(_ every: Duration) -> Duration {
        let limit = min(every / 10, .seconds(2))
        return limit <= .zero ? .zero : .nanoseconds(Int64.random(in: 0...Int64(limit.nanoseconds)))
    }

    static func jitter(_ every: Duration) -> Duration {
        let limit = Int64(min(every / 20, .seconds(5)).nanoseconds)
        return limit <= 0 ? .zero : .nanoseconds(Int64.random(in: -limit...limit))
    }
}
