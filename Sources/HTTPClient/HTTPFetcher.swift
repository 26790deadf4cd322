import DaemonRuntime
import FoundationEssentials
import Glibc
public import NIOCore
public import NIOHTTP1
import NIOPosix
import NIOSSL
import OpsConfig
import Synchronization

/// The HTTP/1.1 client of http checks and alert webhooks: one request per connection, redirects up to a
/// limit, a bounded body, TLS with the system's trust roots (plus a `ca_file`), and the server
/// certificate's expiry from the same handshake.
///
/// Why not AsyncHTTPClient: it brought full Foundation with ICU, swift-configuration, HTTP/2 and a
/// connection pool into opsd, megabytes of memory the daemon paid for as long as it ran
/// (docs/performance-notes.md), and a health probe wants a fresh connection anyway: a pooled one
/// hides a server that stopped accepting. Host names are resolved on a thread of their own
/// (getaddrinfo blocks), not by NIO's resolver, which runs on libdispatch and would bring back
/// its once-a-second wakeup.
public final class HTTPFetcher: Sendable {
    /// What to send.
    public struct Request: Sendable {
        /// An `http://` or `https://` URL.
        public var url: String
        /// GET, POST, HEAD, …
        public var method: String
        /// Extra headers (Host, Connection and Content-Length are set here). Sent only to the
        /// URL's own origin: a redirect to another host or port does not get them, since they
        /// often carry credentials.
        public var headers: [(name: String, value: String)]
        /// The request body; its Content-Length is set when it is not empty.
        public var body: [UInt8]
        /// Redirects followed before the redirect itself is the answer (0: none).
        public var maxRedirects: Int
        /// A PEM file of certificates trusted in addition to the system's.
        public var caFile: String?
        /// A longer body fails the request with `Failure.bodyTooLarge`.
        public var bodyLimit: Int

        /// A request; GET with no body, no redirects and a 1 MiB body limit unless told otherwise.
        public init(
            url: String, method: String = "GET", headers: [(name: String, value: String)] = [], body: [UInt8] = [],
            maxRedirects: Int = 0, caFile: String? = nil, bodyLimit: Int = 1 << 20
        ) {
            self.url = url
            self.method = method
            self.headers = headers
            self.body = body
            self.maxRedirects = maxRedirects
            self.caFile = caFile
            self.bodyLimit = bodyLimit
        }
    }

    /// What came back.
    public struct Response: Sendable {
        /// The status code.
        public var status: Int
        /// The headers, as sent.
        public var headers: HTTPHeaders
        /// The body, at most the request's limit.
        public var body: [UInt8]
        /// The server certificate's notAfter (seconds since 1970), for https.
        public var certificateNotAfter: Int64?
    }

    /// Why a request got no answer, in words an operator can act on.
    public enum Failure: Error, CustomStringConvertible, Sendable, Equatable {
        case badURL(String)
        case resolve(host: String, reason: String)
        case connect(address: String, reason: String)
        case tls(String)
        case timedOut
        case bodyTooLarge(limit: Int)
        case closedEarly
        case malformed(String)

        public var description: String {
            switch self {
            case .badURL(let url): "\(url) is not an http:// or https:// URL with a host"
            case .resolve(let host, let reason): "cannot resolve \(host): \(reason)"
            case .connect(let address, let reason): "cannot connect to \(address): \(reason)"
            case .tls(let reason): "TLS: \(reason)"
            case .timedOut: "no answer within the timeout"
            case .bodyTooLarge(let limit): "the body is larger than \(limit) bytes"
            case .closedEarly: "the server closed the connection before it answered"
            case .malformed(let reason): "the answer is not valid HTTP: \(reason)"
            }
        }
    }

    private let group: any EventLoopGroup
    /// TLS contexts by `ca_file` ("" for the system's roots alone): building one reads the trust
    /// store, which is worth doing once, not per probe.
    private let contexts = Mutex<[String: NIOSSLContext]>([:])

    /// A client whose connections run on NIO's shared event loops (opsd's executor).
    public convenience init() {
        self.init(group: MultiThreadedEventLoopGroup.singleton)
    }

    /// A client whose connections run on `group`'s event loops.
    public init(group: any EventLoopGroup) {
        self.group = group
    }

    /// Sends `request`, following redirects, and returns the final answer. Fails with `Failure`
    /// (or CancellationError when the calling task is cancelled, which closes the connection).
    public func fetch(_ request: Request, deadline: ContinuousClock.Instant) async throws -> Response {
        var target = try Target(request.url)
        let origin = target.origin
        var method = request.method
        var body = request.body
        var redirects = 0
        while true {
            let headers = target.origin == origin ? request.headers : []
            let response = try await exchange(
                target, method: method, headers: headers, body: body, caFile: request.caFile, limit: request.bodyLimit, deadline: deadline
            )
            guard [301, 302, 303, 307, 308].contains(response.status), redirects < request.maxRedirects,
                  let location = response.headers.first(name: "location"), let next = target.resolve(location)
            else { return response }
            redirects += 1
            // As browsers and curl do: 303 (and 301/302 after a POST) become a GET without a body.
            if response.status == 303 || ([301, 302].contains(response.status) && method == "POST") {
                method = method == "HEAD" ? "HEAD" : "GET"
                body = []
            }
            target = next
        }
    }

    // MARK: - One exchange

    private func exchange(
        _ target: Target, method: String, headers: [(name: String, value: String)], body: [UInt8], caFile: String?, limit: Int,
        deadline: ContinuousClock.Instant
    ) async throws -> Response {
        let tls = target.secure ? try context(caFile: caFile) : nil
        // getaddrinfo has no timeout of its own (a dead nameserver costs 5 s per try): the lookup
        // is abandoned at the deadline and its thread ends whenever glibc gives up.
        guard let resolved = await withDeadline(deadline, { try await self.resolve(target) }) else { throw Failure.timedOut }
        let addresses = try resolved.get()
        var head = HTTPRequestHead(version: .http1_1, method: HTTPMethod(rawValue: method), uri: target.requestTarget)
        head.headers.add(name: "Host", value: target.hostHeader)
        head.headers.add(name: "User-Agent", value: "opsd/\(opsVersion)")
        head.headers.add(name: "Accept", value: "*/*")
        if let authorization = target.basicAuthorization { head.headers.add(name: "Authorization", value: authorization) }
        for header in headers { head.headers.replaceOrAdd(name: header.name, value: header.value) }
        if !body.isEmpty { head.headers.replaceOrAdd(name: "Content-Length", value: "\(body.count)") }
        head.headers.replaceOrAdd(name: "Connection", value: "close")
        let request = head

        var lastFailure = Failure.connect(address: target.hostHeader, reason: "no address")
        for address in addresses {
            let remaining = deadline - .now
            guard remaining > .zero else { throw Failure.timedOut }
            let promise = group.next().makePromise(of: Response.self)
            let channel: any Channel
            do {
                channel = try await ClientBootstrap(group: group)
                    .connectTimeout(.nanoseconds(Int64(remaining.nanoseconds)))
                    .channelInitializer { channel in
                        channel.eventLoop.makeCompletedFuture {
                            let pipeline = channel.pipeline.syncOperations
                            if let tls {
                                try pipeline.addHandler(NIOSSLClientHandler(context: tls, serverHostname: target.isAddress ? nil : target.host))
                            }
                            try pipeline.addHTTPClientHandlers()
                            try pipeline.addHandler(ResponseCollector(request: request, body: body, limit: limit, promise: promise))
                        }
                    }
                    .connect(to: address).get()
            } catch {
                promise.fail(error)
                lastFailure = .connect(address: "\(target.host):\(target.port)", reason: Self.describe(error))
                continue
            }
            let timer = channel.eventLoop.scheduleTask(deadline: .now() + .nanoseconds(Int64((deadline - .now).nanoseconds))) {
                promise.fail(Failure.timedOut)
                channel.close(promise: nil)
            }
            defer {
                timer.cancel()
                channel.close(promise: nil)
            }
            return try await withTaskCancellationHandler {
                do { return try await promise.futureResult.get() } catch let failure as Failure { throw failure } catch {
                    throw Self.failure(for: error)
                }
            } onCancel: {
                promise.fail(CancellationError())
                channel.close(promise: nil)
            }
        }
        throw lastFailure
    }

    /// The TLS context for `caFile`, built on first use.
    private func context(caFile: String?) throws -> NIOSSLContext {
        let key = caFile ?? ""
        if let existing = contexts.withLock({ $0[key] }) { return existing }
        var configuration = TLSConfiguration.makeClientConfiguration()
        if let caFile {
            do {
                configuration.additionalTrustRoots = [.certificates(try NIOSSLCertificate.fromPEMFile(caFile))]
            } catch {
                throw Failure.tls("cannot read the certificates in ca_file \(caFile): \(error)")
            }
        }
        let created: NIOSSLContext
        do { created = try NIOSSLContext(configuration: configuration) } catch { throw Failure.tls("cannot set up TLS: \(error)") }
        return contexts.withLock { table in
            if let raced = table[key] { return raced }
            table[key] = created
            return created
        }
    }

    /// The target's addresses in getaddrinfo's order (RFC 6724), looked up on a thread of its own.
    private func resolve(_ target: Target) async throws -> [SocketAddress] {
        let host = target.host, port = target.port
        return try await onOwnThread(named: "opsd-resolve") { () throws -> [SocketAddress] in
            var hints = addrinfo()
            hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
            hints.ai_flags = AI_ADDRCONFIG
            var list: UnsafeMutablePointer<addrinfo>?
            let status = getaddrinfo(host, String(port), &hints, &list)
            guard status == 0 else { throw Failure.resolve(host: host, reason: String(cString: gai_strerror(status))) }
            defer { freeaddrinfo(list) }
            var addresses: [SocketAddress] = []
            var entry = list
            while let info = entry?.pointee {
                if let address = info.ai_addr {
                    switch info.ai_family {
                    case AF_INET: addresses.append(address.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { SocketAddress($0.pointee, host: host) })
                    case AF_INET6: addresses.append(address.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { SocketAddress($0.pointee, host: host) })
                    default: break
                    }
                }
                entry = info.ai_next
            }
            guard !addresses.isEmpty else { throw Failure.resolve(host: host, reason: "no IPv4 or IPv6 address") }
            return addresses
        }
    }

    static func failure(for error: any Error) -> any Error {
        if error is CancellationError { return error }
        if let tls = error as? NIOSSLError { return Failure.tls("\(tls)") }
        if let tls = error as? BoringSSLError { return Failure.tls("\(tls)") }
        if error is HTTPParserError { return Failure.malformed("\(error)") }
        return Failure.connect(address: "the server", reason: describe(error))
    }

    static func describe(_ error: any Error) -> String {
        if let error = error as? NIOConnectionError, let first = error.connectionErrors.first { return describe(first.error) }
        if let error = error as? IOError { return String(cString: strerror(error.errnoCode)) }
        if let channel = error as? ChannelError, case .connectTimeout = channel { return "timed out" }
        return "\(error)"
    }
}

/// A URL taken apart into what a connection and its first request line need.
struct Target: Sendable {
    let secure: Bool
    let host: String
    let port: Int
    let requestTarget: String
    let user: String?
    let password: String?
    let url: URL

    init(_ text: String) throws(HTTPFetcher.Failure) {
        guard let url = URL(string: text), let components = URLComponents(url: url, resolvingAgainstBaseURL: true) else { throw .badURL(text) }
        try self.init(url: url, components: components, text: text)
    }

    private init(url: URL, components: URLComponents, text: String) throws(HTTPFetcher.Failure) {
        guard let scheme = components.scheme?.lowercased(), scheme == "http" || scheme == "https",
              var host = components.host, !host.isEmpty
        else { throw .badURL(text) }
        if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        self.url = url
        secure = scheme == "https"
        self.host = host
        port = components.port ?? (secure ? 443 : 80)
        let path = components.percentEncodedPath.isEmpty ? "/" : components.percentEncodedPath
        requestTarget = components.percentEncodedQuery.map { "\(path)?\($0)" } ?? path
        user = components.user
        password = components.password
    }

    /// Scheme, host and port: what decides whether configured headers may go along.
    var origin: String { "\(secure ? "https" : "http")://\(host):\(port)" }

    /// True for an IP literal, which gets no SNI name.
    var isAddress: Bool { host.contains(":") || host.allSatisfy { $0.isNumber || $0 == "." } }

    /// `host[:port]`, with brackets for IPv6, the port only when it is not the scheme's default.
    var hostHeader: String {
        let name = host.contains(":") ? "[\(host)]" : host
        return port == (secure ? 443 : 80) ? name : "\(name):\(port)"
    }

    var basicAuthorization: String? {
        guard let user else { return nil }
        return "Basic " + Data("\(user):\(password ?? "")".utf8).base64EncodedString()
    }

    /// The target of a redirect's Location, relative to this one.
    func resolve(_ location: String) -> Target? {
        guard let next = URL(string: location, relativeTo: url)?.absoluteURL,
              let components = URLComponents(url: next, resolvingAgainstBaseURL: true)
        else { return nil }
        return try? Target(url: next, components: components, text: location)
    }
}

/// Writes the request once the connection is up and collects the response, on the channel's
/// event loop; completes the promise once (success at the end of the response, else the first
/// failure).
private final class ResponseCollector: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPClientResponsePart
    typealias OutboundOut = HTTPClientRequestPart

    private let request: HTTPRequestHead
    private let body: [UInt8]
    private let limit: Int
    private let promise: EventLoopPromise<HTTPFetcher.Response>
    private var response: HTTPFetcher.Response?
    private var done = false

    init(request: HTTPRequestHead, body: [UInt8], limit: Int, promise: EventLoopPromise<HTTPFetcher.Response>) {
        self.request = request
        self.body = body
        self.limit = limit
        self.promise = promise
    }

    func channelActive(context: ChannelHandlerContext) {
        context.write(wrapOutboundOut(.head(request)), promise: nil)
        if !body.isEmpty {
            context.write(wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(bytes: body)))), promise: nil)
        }
        context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !done else { return }
        switch unwrapInboundIn(data) {
        case .head(let head):
            var certificate: Int64?
            if let tls = try? context.pipeline.syncOperations.handler(type: NIOSSLClientHandler.self), let peer = tls.peerCertificate {
                certificate = Int64(peer.notValidAfter)
            }
            response = HTTPFetcher.Response(status: Int(head.status.code), headers: head.headers, body: [], certificateNotAfter: certificate)
        case .body(let buffer):
            guard (response?.body.count ?? 0) + buffer.readableBytes <= limit else {
                finish(.failure(HTTPFetcher.Failure.bodyTooLarge(limit: limit)), context: context)
                return
            }
            response?.body += buffer.readableBytesView
        case .end:
            if let response { finish(.success(response), context: context) } else { finish(.failure(HTTPFetcher.Failure.closedEarly), context: context) }
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        // Many servers close TLS without close_notify. Once the answer's head is here, the HTTP
        // decoder decides at the close whether the body was complete (as curl does), so a body
        // that ends with the connection still counts.
        if response != nil, let tls = error as? NIOSSLError, case .uncleanShutdown = tls { return }
        finish(.failure(error), context: context)
    }

    func channelInactive(context: ChannelHandlerContext) {
        finish(.failure(HTTPFetcher.Failure.closedEarly), context: context)
        context.fireChannelInactive()
    }

    private func finish(_ result: Result<HTTPFetcher.Response, any Error>, context: ChannelHandlerContext) {
        guard !done else { return }
        done = true
        promise.completeWith(result)
        context.close(promise: nil)
    }
}
