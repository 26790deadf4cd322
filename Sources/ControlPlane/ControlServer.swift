public import FileSafety
import FoundationEssentials
import Glibc
public import Logging
public import NIOCore
import NIOHTTP1
import NIOPosix
public import ServiceLifecycle
import Synchronization

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
    /// The socket's directory, or its lock file, could be changed by another user.
    case untrusted(UntrustedPathError)

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
        case .untrusted(let error):
            return error.description
        }
    }
}

/// The unix-socket HTTP/1.1 server `opsctl` talks to; the same server also listens on TCP for
/// `daemon.listen` (`/healthz`, `/metrics`), with other routes.
///
/// Binding happens in `bind(…)`, before the service group starts, so that a second instance or a
/// bad path fails start-up with a clear message and READY=1 is only ever sent by a daemon that is
/// actually listening. The socket's directory must be one only root and opsd's user can change
/// (``TrustedDirectory``); the socket is created under a temporary name, given mode 0660, and
/// renamed into place, so it is never visible with a wider mode than intended.
///
/// Each listener serves at most a fixed number of connections at once, and closes a connection
/// that has not sent a complete request within ``requestTimeout``; the unix socket also checks
/// who is connecting (``PeerPolicy``).
public final class ControlServer: Service, Sendable {
    /// A served connection, or nil for one that was answered and closed at accept.
    typealias Connection = NIOAsyncChannel<HTTPServerRequestPart, HTTPServerResponsePart>

    /// The socket path clients connect to (`host:port` for a TCP listener).
    public let path: String
    private let channel: NIOAsyncChannel<Connection?, Never>
    /// What was accepted and not yet served, so a shutdown closes it properly.
    private let accepted: AcceptedConnections
    /// The unix socket's lock; nil for a TCP listener.
    private let lock: SocketLock?
    private let handler: any ControlHandler
    private let logger: Logger

    /// The longest unix socket path NIO binds: the smallest `sun_path` of the systems it supports,
    /// less the NUL (Linux itself takes 107). `DaemonSettings.maximumSocketPathLength` holds the
    /// configuration to the same number, so every path `config check` accepts binds.
    static let maximumPathLength = 103

    /// Requests larger than this are refused; the API's bodies are tiny.
    static let maximumBodySize = 1 << 20

    /// How long a connection may take to deliver its whole request (head and body) after it is
    /// accepted; then it is closed. opsctl and HTTP scrapers send theirs at once, in well under a
    /// millisecond; 5 s leaves room for a loaded machine while a held connection is soon returned.
    public static let requestTimeout = TimeAmount.seconds(5)
    /// How long an answer may wait for a client that does not read it (a streamed `jobs run`
    /// whose reader stopped, a scraper that hung); then the connection is closed. Without it such
    /// a client held its connection, and a task, until opsd stopped. A minute, as web servers'
    /// send timeouts: a person paging through `opsctl jobs run … | less` loses the answer only
    /// after a minute's pause, and a streamed run drops its oldest lines long before that anyway.
    public static let writeStallTimeout = TimeAmount.seconds(60)
    /// Connections served at once on the control socket. Room for every operator, script and
    /// probe at once (each takes milliseconds); what it bounds is descriptors. opsd's own watchdog
    /// probe is served beyond it.
    public static let controlConnectionLimit = 512
    /// Connections served at once on `daemon.listen` (health checks and scrapes, one request each).
    public static let listenerConnectionLimit = 64

    private init(
        path: String, channel: NIOAsyncChannel<Connection?, Never>, accepted: AcceptedConnections,
        lock: SocketLock?, handler: any ControlHandler, logger: Logger
    ) {
        self.path = path
        self.channel = channel
        self.accepted = accepted
        self.lock = lock
        self.handler = handler
        self.logger = logger
    }

    /// Takes the socket path (directory check, lock, stale-file cleanup) and starts listening on it.
    /// `requestTimeout` and `writeStallTimeout` are for tests; opsd uses the defaults.
    public static func bind(
        path: String, handler: any ControlHandler, group: any EventLoopGroup, logger: Logger,
        requestTimeout: TimeAmount = ControlServer.requestTimeout, writeStallTimeout: TimeAmount = ControlServer.writeStallTimeout
    ) async throws(ControlServerError) -> ControlServer {
        let directory = URL(fileURLWithPath: path).deletingLastPathComponent().path
        do {
            try TrustedDirectory.prepare(directory, mode: 0o750, purpose: "the socket directory")
        } catch {
            throw .untrusted(error)
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
        // NIO refuses unix socket paths over 103 bytes (`maximumPathLength`), so a temporary
        // name too long for it falls back to binding the path itself (not atomic, but whole).
        let bindPath = temporary.utf8.count <= Self.maximumPathLength ? temporary : path
        unlink(temporary)
        let socketGroup = Atomic<UInt32>(UInt32.max)
        let budget = ConnectionBudget(limit: controlConnectionLimit)
        let accepted = AcceptedConnections()
        let me = geteuid()
        let channel: NIOAsyncChannel<Connection?, Never>
        do {
            channel = try await ServerBootstrap(group: group)
                .serverChannelOption(.backlog, value: 64)
                .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
                .bind(unixDomainSocketPath: bindPath) { child in
                    PeerPolicy.peer(of: child).flatMapThrowing { peer -> Connection? in
                        let policy = PeerPolicy(socketGroup: socketGroup.load(ordering: .relaxed), me: me)
                        guard let peer, policy.admits(peer) else {
                            let refusal = peer.map { policy.refusal(for: $0) } ?? "opsd could not tell who is connecting; try again"
                            return try Self.refuse(child, .error(refusal, status: 403))
                        }
                        // opsd's own watchdog probe is served whatever the load, so a flood of
                        // connections cannot make systemd kill a daemon that works.
                        guard peer.pid == getpid() || budget.admit(child) else {
                            return try Self.refuse(child, .error("opsd is serving \(budget.limit) control connections already; try again shortly", status: 503))
                        }
                        return try Self.serveRequests(on: child, timeout: requestTimeout, stallTimeout: writeStallTimeout, accepted: accepted)
                    }
                }
        } catch {
            throw .cannotBind(path: path, reason: Self.describe(error))
        }
        // The directory is trusted: only root and opsd's user can add, rename or replace entries
        // in it, so the name just bound is still our socket, not a link someone swapped in, when
        // its mode is set; AT_SYMLINK_NOFOLLOW would refuse a link anyway. (fchmod on the
        // listening descriptor would not do: it changes the socket's inode in sockfs, not the
        // file that connect(2) checks.)
        var bound = stat()
        guard fchmodat(AT_FDCWD, bindPath, 0o660, AT_SYMLINK_NOFOLLOW) == 0, lstat(bindPath, &bound) == 0,
              bindPath == path || rename(bindPath, path) == 0 else {
            let reason = String(cString: strerror(errno))
            try? await channel.channel.close()
            unlink(bindPath)
            throw .cannotBind(path: path, reason: reason)
        }
        socketGroup.store(bound.st_gid, ordering: .relaxed)
        return ControlServer(path: path, channel: channel, accepted: accepted, lock: lock, handler: handler, logger: logger)
    }

    /// Listens on TCP `host:port` (bound before the service group starts, like the socket).
    public static func listen(
        host: String, port: Int, handler: any ControlHandler, group: any EventLoopGroup, logger: Logger
    ) async throws(ControlServerError) -> ControlServer {
        let address = host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
        let budget = ConnectionBudget(limit: listenerConnectionLimit)
        let accepted = AcceptedConnections()
        do {
            let channel = try await ServerBootstrap(group: group)
                .serverChannelOption(.backlog, value: 64)
                .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
                .bind(host: host, port: port) { child in
                    child.eventLoop.makeCompletedFuture { () throws -> Connection? in
                        guard budget.admit(child) else {
                            return try Self.refuse(child, .error("opsd is serving \(budget.limit) connections on this listener already; try again shortly", status: 503))
                        }
                        return try Self.serveRequests(on: child, accepted: accepted)
                    }
                }
            return ControlServer(path: address, channel: channel, accepted: accepted, lock: nil, handler: handler, logger: logger)
        } catch {
            throw .cannotBind(path: address, reason: Self.describe(error))
        }
    }

    /// The pipeline of a connection that will be served: HTTP/1.1, the request deadline and the
    /// write-stall deadline; a refusal instead once the listener is closing.
    private static func serveRequests(
        on child: any Channel, timeout: TimeAmount = requestTimeout, stallTimeout: TimeAmount = writeStallTimeout, accepted: AcceptedConnections
    ) throws -> Connection? {
        let connection = try accepted.admit(child) {
            try child.pipeline.syncOperations.configureHTTPServerPipeline(withErrorHandling: true)
            try child.pipeline.syncOperations.addHandler(RequestDeadline(timeout: timeout))
            try child.pipeline.syncOperations.addHandler(WriteStallDeadline(timeout: stallTimeout))
            return try Connection(wrappingChannelSynchronously: child)
        }
        return try connection ?? refuse(child, .error("opsd is stopping; try again once it runs", status: 503))
    }

    /// Answers `child` with `response` and closes it, without reading its request.
    private static func refuse(_ child: any Channel, _ response: ControlResponse) throws -> Connection? {
        try child.pipeline.syncOperations.addHandler(Refusal(response))
        return nil
    }

    /// Serves connections until graceful shutdown, then removes the socket file.
    public func run() async throws {
        logger.info(lock == nil ? "listening" : "control socket ready", metadata: [lock == nil ? "address" : "socket": "\(path)"])
        defer { if lock != nil { unlink(path) } }
        do {
            try await withGracefulShutdownHandler {
                try await withThrowingDiscardingTaskGroup { group in
                    try await channel.executeThenClose { connections in
                        for try await connection in connections {
                            guard let connection, accepted.claim(connection) else { continue }
                            group.addTask { await self.serve(connection) }
                        }
                    }
                }
            } onGracefulShutdown: {
                self.accepted.stopAdmitting()
                self.channel.channel.close(promise: nil)
            }
        } catch {
            await accepted.closeUnclaimed()
            throw error
        }
        // Connections accepted while the listener closed never reached the loop: close them here.
        await accepted.closeUnclaimed()
    }

    /// Reads one request, answers it, and closes the connection.
    private func serve(_ connection: Connection) async {
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
        // Without a length NIO frames the body in chunks, which a streamed body needs.
        if response.stream == nil { headers.add(name: "Content-Length", value: "\(response.body.count)") }
        headers.add(name: "Connection", value: "close")
        let head = HTTPResponseHead(version: .http1_1, status: HTTPResponseStatus(statusCode: response.status), headers: headers)
        try await outbound.write(.head(head))
        if let stream = response.stream {
            try await stream(ControlBodyWriter { bytes in try await outbound.write(.body(.byteBuffer(ByteBuffer(bytes: bytes)))) })
        } else {
            try await outbound.write(.body(.byteBuffer(ByteBuffer(bytes: response.body))))
        }
        try await outbound.write(.end(nil))
    }

    static func describe(_ error: any Error) -> String {
        if let error = error as? IOError { return String(cString: strerror(error.errnoCode)) }
        return "\(error)"
    }
}
