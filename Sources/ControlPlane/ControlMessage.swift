public import FoundationEssentials
import Glibc

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

    /// Creates a response.
    public init(status: Int, body: [UInt8], contentType: String = "application/json") {
        self.status = status
        self.body = body
        self.contentType = contentType
    }

    /// A response carrying `value` as JSON.
    public static func json<T: Encodable>(_ value: T, status: Int = 200) -> ControlResponse {
        do {
            return ControlResponse(status: status, body: Array(try ControlJSON.encoder.encode(value)))
        } catch {
            return .error("could not encode the response: \(error)", status: 500)
        }
    }

    /// An error response: `{"error": "…"}`.
    public static func error(_ message: String, status: Int) -> ControlResponse {
        let body = (try? ControlJSON.encoder.encode(ErrorBody(error: message))) ?? Data()
        return ControlResponse(status: status, body: Array(body))
    }

    /// Decodes the body as `T`.
    public func decode<T: Decodable>(_ type: T.Type) throws -> T {
        try ControlJSON.decoder.decode(type, from: Data(body))
    }
}

/// Answers control requests; opsd provides the routes.
public protocol ControlHandler: Sendable {
    /// Produces the response to one request. Never throws: errors are responses too.
    func handle(_ request: ControlRequest) async -> ControlResponse
}

/// The JSON conventions of the control API: snake_case keys, ISO-8601 dates, stable key order.
public enum ControlJSON {
    /// The encoder for responses and `--json` output.
    public static var encoder: JSONEncoder {
        let encoder = JSONEncoder()
        encoder.keyEncodingStrategy = .convertToSnakeCase
        encoder.dateEncodingStrategy = .iso8601
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
        return encoder
    }

    /// The matching decoder.
    public static var decoder: JSONDecoder {
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        decoder.dateDecodingStrategy = .iso8601
        return decoder
    }
}

/// The body of every error response.
public struct ErrorBody: Codable, Sendable {
    /// One sentence: what went wrong and what to do.
    public var error: String
}
