/// A job whose work is a closure: how the composition root hands the scheduler work that lives
/// in another module (a backup), without this module depending on it.
public struct ClosureJob: JobWork {
    let body: @Sendable (JobContext) async throws -> String

    /// A job that runs `body`.
    public init(_ body: @escaping @Sendable (JobContext) async throws -> String) {
        self.body = body
    }

    public func run(_ context: JobContext) async throws -> String {
        try await body(context)
    }
}
