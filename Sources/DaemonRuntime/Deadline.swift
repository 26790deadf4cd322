import Synchronization

/// Runs `body` as its own task and returns its value, or nil once `deadline` passes. On expiry
/// the task is cancelled and *abandoned*, not awaited: a measurement stuck in the kernel must
/// not hold up the check's result (it shows as UNKNOWN) or any other check.
public func withDeadline<T: Sendable>(
    _ deadline: ContinuousClock.Instant, _ body: @escaping @Sendable () async throws -> T
) async -> Result<T, any Error>? {
    let outcome = Mutex<CheckedContinuation<Result<T, any Error>?, Never>?>(nil)
    let finish: @Sendable (Result<T, any Error>?) -> Void = { value in
        outcome.withLock { continuation in
            continuation?.resume(returning: value)
            continuation = nil
        }
    }
    var work: Task<Void, Never>?
    var timer: Task<Void, Never>?
    let result = await withCheckedContinuation { continuation in
        outcome.withLock { $0 = continuation }
        work = Task {
            do { finish(.success(try await body())) } catch { finish(.failure(error)) }
        }
        timer = Task {
            try? await Task.sleep(until: deadline, clock: .loop)
            if !Task.isCancelled { finish(nil) }
        }
    }
    timer?.cancel()
    if result == nil { work?.cancel() }
    return result
}
