import FoundationEssentials
import Glibc
import OpsAPI

/// One request on the control socket.
public struct ControlRequest: Sendable {
    /// `GET`, `POST`, …
    public var method: String
    /// The path without the query, e.g. `/v1/status`.
    public var path: String
    /// Query parameters (`?seconds=3`).
    public var query: [String: String]
    /// The body, if any (JSON).
    public var body: [UInt8]

    /// Creates a request.
    public init(method: String, path: String, query: [String: String] = [:], body: [UInt8] = []) {
        self.method = method
        self.path = path
        self.query = query
        self.body = body
    }
}

/// One response on the control socket: a status code and a JSON body.
public struct ControlResponse: Sendable {
    /// The HTTP status code.
    public var status: Int
    /// The body (JSON unless `contentType` says otherwise).
    public var body: [UInt8]
    /// The media type of the body.
    public var contentType: String
    /// A body written as it comes (chunked), instead of `body`: a job run's output while it runs.
    /// Closing the connection ends it; what the producer does then is up to it.
    public var stream: (@Sendable (ControlBodyWriter) async throws -> Void)?

    /// Creates a response.
    public init(status: Int, body: [UInt8], contentType: String = "application/json") {
        self.status = status
        self.body = body
        self.contentType = contentType
    }

    /// A 200 response whose body `produce` writes piece by piece, as it comes.
    public static func streamed(contentType: String, _ produce: @escaping @Sendable (ControlBodyWriter) async throws -> Void) -> ControlResponse {
        var response = ControlResponse(status: 200, body: [], contentType: contentType)
        response.stream = produce
        return response
    }

    /// A response carrying `value` as JSON, in the API's one convention (`WireJSON`).
    public static func json<T: Encodable>(_ value: T, status: Int = 200) -> ControlResponse {
        do {
            return ControlResponse(status: status, body: Array(try WireJSON.encoder.encode(value)))
        } catch {
            return .error("could not encode the response: \(error)", status: 500)
        }
    }

    /// An error response: `{"error": "…"}`.
    public static func error(_ message: String, status: Int) -> ControlResponse {
        let body = (try? WireJSON.encoder.encode(ErrorBody(error: message))) ?? Data()
        return ControlResponse(status: status, body: Array(body))
    }

    /// Decodes the body as `T`.
    public func decode<T: Decodable>(_ type: T.Type) throws -> T {
        try WireJSON.decoder.decode(type, from: Data(body))
    }
}

/// Writes the pieces of a streamed response's body (`ControlResponse.streamed`); a write throws
/// once the peer has gone.
public struct ControlBodyWriter: Sendable {
    private let send: @Sendable ([UInt8]) async throws -> Void

    /// A writer that hands each piece to `send`.
    public init(_ send: @escaping @Sendable ([UInt8]) async throws -> Void) {
        self.send = send
    }

    /// Writes `bytes` now.
    public func write(_ bytes: [UInt8]) async throws {
        try await send(bytes)
    }
}

/// Answers control requests; opsd provides the routes.
public protocol ControlHandler: Sendable {
    /// Produces the response to one request. Never throws: errors are responses too.
    func handle(_ request: ControlRequest) async -> ControlResponse
}
