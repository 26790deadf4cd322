import Foundation
public import NIOCore
import NIOHTTP1
import NIOPosix
import Synchronization

/// Why a control request failed. Each case reads as one sentence with a remedy.
public enum ControlClientError: Error, CustomStringConvertible, Equatable {
    /// No socket file: opsd is not running (or uses another socket).
    case notRunning(socket: String)
    /// A socket file nobody listens on: left by an opsd that ended.
    case staleSocket(socket: String)
    /// The caller may not connect.
    case permissionDenied(socket: String)
    /// Something other than a socket is at the path.
    case notASocket(path: String)
    /// opsd accepted the connection but did not answer in time.
    case timedOut(socket: String, after: Duration)
    /// The connection failed in another way, or the answer was unreadable.
    case failed(socket: String, reason: String)

    /// One sentence that says what is wrong and what to do.
    public var description: String {
        switch self {
        case .notRunning(let socket):
            "opsd is not running (no control socket at \(socket)); start it with `systemctl start opsd` or `opsd --config FILE`"
        case .staleSocket(let socket):
            "opsd is not running (nothing answers on \(socket), left by an earlier run); start it with `systemctl start opsd` or `opsd --config FILE`"
        case .permissionDenied(let socket):
            "permission denied on \(socket); run opsctl as root or as a member of the socket's group"
        case .notASocket(let path):
            "\(path) is not a socket; check daemon.socket in the config, or pass --socket PATH"
        case .timedOut(let socket, let after):
            "opsd did not answer on \(socket) within \(after); it may be hung: see `journalctl -u opsd`"
        case .failed(let socket, let reason):
            "the request to opsd on \(socket) failed: \(reason)"
        }
    }
}

/// Sends requests to opsd over its control socket; one connection per request.
public struct ControlClient: Sendable {
    /// The socket path.
    public let socketPath: String
    /// How long a request may take, connection included.
    public let timeout: Duration
    private let group: any EventLoopGroup

    /// Creates a client. The default event loop group is NIO's shared one.
    public init(socketPath: String, timeout: Duration = .seconds(30), group: (any EventLoopGroup)? = nil) {
        self.socketPath = socketPath
        self.timeout = timeout
        self.group = group ?? MultiThreadedEventLoopGroup.singleton
    }

    /// Sends `request` and returns opsd's response, whatever its status code.
    public func send(_ request: ControlRequest) async throws(ControlClientError) -> ControlResponse {
        var info = stat()
        if lstat(socketPath, &info) != 0 {
            throw errno == EACCES ? .permissionDenied(socket: socketPath) : .notRunning(socket: socketPath)
        }
        guard info.st_mode & S_IFMT == S_IFSOCK else { throw .notASocket(path: socketPath) }

        let connection: NIOAsyncChannel<HTTPClientResponsePart, HTTPClientRequestPart>
        do {
            connection = try await ClientBootstrap(group: group)
                .connectTimeout(.nanoseconds(Self.nanoseconds(timeout)))
                .connect(unixDomainSocketPath: socketPath) { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHTTPClientHandlers()
                        return try NIOAsyncChannel<HTTPClientResponsePart, HTTPClientRequestPart>(wrappingChannelSynchronously: channel)
                    }
                }
        } catch {
            throw Self.connectError(error, socket: socketPath)
        }

        // The deadline closes the channel from its event loop; the read below then ends.
        let expired = Mutex(false)
        let deadline = connection.channel.eventLoop.scheduleTask(in: .nanoseconds(Self.nanoseconds(timeout))) { [channel = connection.channel] in
            expired.withLock { $0 = true }
            channel.close(promise: nil)
        }
        defer { deadline.cancel() }

        do {
            return try await connection.executeThenClose { inbound, outbound in
                var headers = HTTPHeaders()
                headers.add(name: "Host", value: "opsd")
                headers.add(name: "Content-Type", value: "application/json")
                headers.add(name: "Content-Length", value: "\(request.body.count)")
                headers.add(name: "Connection", value: "close")
                let uri = request.path + Self.queryString(request.query)
                try await outbound.write(.head(HTTPRequestHead(version: .http1_1, method: HTTPMethod(rawValue: request.method), uri: uri, headers: headers)))
                if !request.body.isEmpty { try await outbound.write(.body(.byteBuffer(ByteBuffer(bytes: request.body)))) }
                try await outbound.write(.end(nil))

                var status: Int?
                var body: [UInt8] = []
                for try await part in inbound {
                    switch part {
                    case .head(let head): status = Int(head.status.code)
                    case .body(var buffer): body += buffer.readBytes(length: buffer.readableBytes) ?? []
                    case .end: if let status { return ControlResponse(status: status, body: body) }
                    }
                }
                throw ChannelError.eof
            }
        } catch {
            if expired.withLock({ $0 }) { throw .timedOut(socket: socketPath, after: timeout) }
            throw .failed(socket: socketPath, reason: "\(error)")
        }
    }

    static func nanoseconds(_ duration: Duration) -> Int64 {
        duration.components.seconds * 1_000_000_000 + duration.components.attoseconds / 1_000_000_000
    }

    static func queryString(_ query: [String: String]) -> String {
        guard !query.isEmpty else { return "" }
        var components = URLComponents()
        components.queryItems = query.sorted { $0.key < $1.key }.map { URLQueryItem(name: $0.key, value: $0.value) }
        return "?" + (components.percentEncodedQuery ?? "")
    }

    static func connectError(_ error: any Error, socket: String) -> ControlClientError {
        let code: Int32? = (error as? IOError)?.errnoCode
            ?? (error as? NIOConnectionError)?.connectionErrors.compactMap { ($0.error as? IOError)?.errnoCode }.first
        switch code {
        case ECONNREFUSED: return .staleSocket(socket: socket)
        case EACCES, EPERM: return .permissionDenied(socket: socket)
        case ENOENT: return .notRunning(socket: socket)
        default: return .failed(socket: socket, reason: "\(error)")
        }
    }
}
