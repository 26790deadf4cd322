import Foundation

/// Polls `probe` every `interval` until it returns a value, and returns it.
///
/// The limit is a safety net, not the synchronisation: the whole suite runs hundreds of tests at
/// once on two cores, and a task can wait minutes for a thread. So it is 3 minutes, and the probe
/// is asked once more when the limit has passed: what arrived while this task waited to run counts.
@discardableResult
public func eventually<T>(
    _ what: String, limit: Duration = .seconds(180), every interval: Duration = .milliseconds(20), _ probe: () async throws -> T?
) async throws -> T {
    let deadline = ContinuousClock.now + limit
    while true {
        if let value = try await probe() { return value }
        guard ContinuousClock.now < deadline else { break }
        try await Task.sleep(for: interval)
    }
    throw TestFailure("timed out waiting until \(what)")
}
