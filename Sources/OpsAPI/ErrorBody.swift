/// The body of every error response: `{"error": "…"}`.
public struct ErrorBody: Codable, Sendable, Equatable {
    /// One sentence: what went wrong and what to do.
    public var error: String

    /// Creates an error body.
    public init(error: String) {
        self.error = error
    }
}
