import FoundationEssentials
import Glibc
public import Logging
public import NIOCore
import NIOHTTP1
import NIOPosix
public import ServiceLifecycle

/// Why the control server could not start. Each case reads as one sentence with a remedy.
public enum ControlServerError: Error, CustomStringConvertible, Equatable {
    /// Another opsd holds the socket's lock.
    case alreadyRunning(socket: String, pid: Int32?)
    /// Something that is not a socket sits at the socket path.
    case notASocket(path: String)
    /// The socket's directory or lock file could not be created.
    case cannotCreate(path: String, reason: String)
    /// bind(2) failed.
    case cannotBind(path: String, reason: String)

    /// One sentence that says what is wrong and what to do.
    public var description: String {
        switch self {
        case .alreadyRunning(let socket, let pid):
            let holder = pid.map { "(pid \($0)) " } ?? ""
            return "another opsd \(holder)is already serving \(socket); stop it first, or give this one another daemon.socket"
        case .notASocket(let path):
            return "\(path) exists and is not a socket; remove it or choose another daemon.socket"
        case .cannotCreate(let path, let reason):
            return "cannot create \(path): \(reason); check that opsd's user may write to that directory"
        case .cannotBind(let path, let reason):
            return "cannot listen on \(path): \(reason)"
        }
    }
}

/// The unix-socket HTTP/1.1 server `opsctl` talks to; the same server also listens on TCP for
/// `daemon.listen` (`/healthz`, `/metrics`), with other routes.
///
/// Binding happens in `bind(…)`, before the service group starts, so that a second instance or a
/// bad path fails start-up with a clear message and READY=1 is only ever sent by a daemon that is
/// actually listening. The socket is created under a temporary name, given mode 0660, and renamed
/// into place, so it is never visible with a wider mode than intended.
public final class ControlServer: Service, Sendable {
    /// The socket path clients connect to (`host:port` for a TCP listener).
    public let path: String
    private let channel: NIOAsyncChannel<NIOAsyncChannel<HTTPServerRequestPart, HTTPServerResponsePart>, Never>
    /// The unix socket's lock; nil for a TCP listener.
    private let lock: SocketLock?
    private let handler: any ControlHandler
    private let logger: Logger

    /// Requests larger than this are refused; the API's bodies are tiny.
    static let maximumBodySize = 1 << 20

    private init(
        path: String, channel: NIOAsyncChannel<NIOAsyncChannel<HTTPServerRequestPart, HTTPServerResponsePart>, Never>,
        lock: SocketLock?, handler: any ControlHandler, logger: Logger
    ) {
        self.path = path
        self.channel = channel
        self.lock = lock
        self.handler = handler
        self.logger = logger
    }

    /// Takes the socket path (lock, stale-file cleanup) and starts listening on it.
    public static func bind(
        path: String, handler: any ControlHandler, group: any EventLoopGroup, logger: Logger
    ) async throws(ControlServerError) -> ControlServer {
        let directory = URL(fileURLWithPath: path).deletingLastPathComponent().path
        if let failed = Self.makeDirectories(directory, mode: 0o750) {
            throw .cannotCreate(path: failed.path, reason: String(cString: strerror(failed.code)))
        }
        let lock = try SocketLock.acquire(for: path)

        // We hold the lock, so whatever socket is at the path was left by a dead opsd.
        var info = stat()
        if lstat(path, &info) == 0 {
            guard info.st_mode & S_IFMT == S_IFSOCK else { throw .notASocket(path: path) }
            unlink(path)
            logger.notice("removed a stale control socket left by an earlier run", metadata: ["socket": "\(path)"])
        }

        let temporary = "\(directory)/.opsd-\(getpid()).sock"
        let bindPath = temporary.utf8.count <= 107 ? temporary : path
        unlink(temporary)
        let channel: NIOAsyncChannel<NIOAsyncChannel<HTTPServerRequestPart, HTTPServerResponsePart>, Never>
        do {
            channel = try await ServerBootstrap(group: group)
                .serverChannelOption(.backlog, value: 64)
                .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
                .bind(unixDomainSocketPath: bindPath) { child in
                    child.eventLoop.makeCompletedFuture {
                        try child.pipeline.syncOperations.configureHTTPServerPipeline(withErrorHandling: true)
                        return try NIOAsyncChannel<HTTPServerRequestPart, HTTPServerResponsePart>(wrappingChannelSynchronously: child)
                    }
                }
        } catch {
            throw .cannotBind(path: path, reason: Self.describe(error))
        }
        guard chmod(bindPath, 0o660) == 0, bindPath == path || rename(bindPath, path) == 0 else {
            let reason = String(cString: strerror(errno))
            try? await channel.channel.close()
            unlink(bindPath)
            throw .cannotBind(path: path, reason: reason)
        }
        return ControlServer(path: path, channel: channel, lock: lock, handler: handler, logger: logger)
    }

    /// Listens on TCP `host:port` (bound before the service group starts, like the socket).
    public static func listen(
        host: String, port: Int, handler: any ControlHandler, group: any EventLoopGroup, logger: Logger
    ) async throws(ControlServerError) -> ControlServer {
        let address = host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
        do {
            let channel = try await ServerBootstrap(group: group)
                .serverChannelOption(.backlog, value: 64)
                .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
                .bind(host: host, port: port) { child in
                    child.eventLoop.makeCompletedFuture {
                        try child.pipeline.syncOperations.configureHTTPServerPipeline(withErrorHandling: true)
                        return try NIOAsyncChannel<HTTPServerRequestPart, HTTPServerResponsePart>(wrappingChannelSynchronously: child)
                    }
                }
            return ControlServer(path: address, channel: channel, lock: nil, handler: handler, logger: logger)
        } catch {
            throw .cannotBind(path: address, reason: Self.describe(error))
        }
    }

    /// Serves connections until graceful shutdown, then removes the socket file.
    public func run() async throws {
        logger.info(lock == nil ? "listening" : "control socket ready", metadata: [lock == nil ? "address" : "socket": "\(path)"])
        defer { if lock != nil { unlink(path) } }
        try await withGracefulShutdownHandler {
            try await withThrowingDiscardingTaskGroup { group in
                try await channel.executeThenClose { connections in
                    for try await connection in connections {
                        group.addTask { await self.serve(connection) }
                    }
                }
            }
        } onGracefulShutdown: {
            self.channel.channel.close(promise: nil)
        }
    }

    /// Reads one request, answers it, and closes the connection.
    private func serve(_ connection: NIOAsyncChannel<HTTPServerRequestPart, HTTPServerResponsePart>) async {
        do {
            try await connection.executeThenClose { inbound, outbound in
                var head: HTTPRequestHead?
                var body: [UInt8] = []
                var tooLarge = false
                for try await part in inbound {
                    switch part {
                    case .head(let requestHead):
                        head = requestHead
                    case .body(var buffer):
                        if body.count + buffer.readableBytes > Self.maximumBodySize { tooLarge = true } else {
                            body += buffer.readBytes(length: buffer.readableBytes) ?? []
                        }
                    case .end:
                        guard let head else { return }
                        let response = tooLarge
                            ? ControlResponse.error("the request body is larger than 1 MiB", status: 413)
                            : await handler.handle(Self.request(head: head, body: body))
                        try await Self.write(response, to: outbound)
                        return
                    }
                }
            }
        } catch {
            logger.debug("control connection ended with an error", metadata: ["error": "\(error)"])
        }
    }

    private static func request(head: HTTPRequestHead, body: [UInt8]) -> ControlRequest {
        let components = URLComponents(string: head.uri)
        var query: [String: String] = [:]
        for item in components?.queryItems ?? [] { query[item.name] = item.value ?? "" }
        return ControlRequest(method: head.method.rawValue, path: components?.path ?? head.uri, query: query, body: body)
    }

    private static func write(_ response: ControlResponse, to outbound: NIOAsyncChannelOutboundWriter<HTTPServerResponsePart>) async throws {
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: response.contentType)
        headers.add(name: "Content-Length", value: "\(response.body.count)")
        headers.add(name: "Connection", value: "close")
        let head = HTTPResponseHead(version: .http1_1, status: HTTPResponseStatus(statusCode: response.status), headers: headers)
        try await outbound.write(.head(head))
        try await outbound.write(.body(.byteBuffer(ByteBuffer(bytes: response.body))))
        try await outbound.write(.end(nil))
    }

    /// `mkdir -p` with `mode` for the directories it creates; the path and errno of the first
    /// directory that could not be made, or nil.
    static func makeDirectories(_ path: String, mode: mode_t) -> (path: String, code: Int32)? {
        var prefix = ""
        for component in path.split(separator: "/") {
            prefix += "/" + component
            if mkdir(prefix, mode) != 0, errno != EEXIST { return (prefix, errno) }
        }
        return nil
    }

    static func describe(_ error: any Error) -> String {
        if let error = error as? IOError { return String(cString: strerror(error.errnoCode)) }
        return "\(error)"
    }
}
