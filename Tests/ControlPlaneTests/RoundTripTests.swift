@testable import ControlPlane
import DaemonRuntime
import Foundation
import Logging
import NIOCore
import NIOPosix
import ServiceLifecycle
import Synchronization
import Testing
import TestSupport

/// A handler that records what reached it and answers with what it saw; `hold` makes it wait
/// until the test releases it (for a client's timeout).
private final class RecordingHandler: ControlHandler {
    struct Seen: Codable, Sendable, Equatable {
        var method: String
        var path: String
        var query: [String: String]
        var bodySize: Int
    }

    private let seen = Mutex<[Seen]>([])
    /// The held requests, and whether `release` came already (then a request that arrives late,
    /// after the client gave up, is not held: it would keep the server from shutting down).
    private let held = Mutex<(waiters: [CheckedContinuation<Void, Never>], released: Bool)>(([], false))
    private let hold: Bool

    init(hold: Bool = false) {
        self.hold = hold
    }

    var requests: [Seen] { seen.withLock { $0 } }

    func handle(_ request: ControlRequest) async -> ControlResponse {
        let entry = Seen(method: request.method, path: request.path, query: request.query, bodySize: request.body.count)
        seen.withLock { $0.append(entry) }
        if hold {
            await withCheckedContinuation { continuation in
                let wait = held.withLock { state in
                    if !state.released { state.waiters.append(continuation) }
                    return !state.released
                }
                if !wait { continuation.resume() }
            }
        }
        return .json(entry, status: request.path == "/v1/teapot" ? 418 : 200)
    }

    /// Lets every held request answer (so the server can shut down).
    func release() {
        let waiters = held.withLock { state in
            state.released = true
            defer { state.waiters = [] }
            return state.waiters
        }
        waiters.forEach { $0.resume() }
    }
}

/// A private directory for a socket, removed afterwards.
private func withSocketDirectory<T>(_ body: (String) async throws -> T) async throws -> T {
    var template = Array("/tmp/ops-cp-XXXXXX".utf8CString)
    guard let directory = mkdtemp(&template).map({ String(cString: $0) }) else { throw TestFailure("mkdtemp failed: \(String(cString: strerror(errno)))") }
    defer { try? FileManager.default.removeItem(atPath: directory) }
    return try await body(directory)
}

/// Runs a real `ControlServer` on a unix socket in a temporary directory for the duration of `body`.
@discardableResult
private func withServer<T>(
    _ handler: any ControlHandler, requestTimeout: TimeAmount = ControlServer.requestTimeout, _ body: (String) async throws -> T
) async throws -> T {
    try await withSocketDirectory { directory in
        let path = directory + "/opsd.sock"
        let logger = Logger(label: "control-plane-tests")
        let server = try await ControlServer.bind(
            path: path, handler: handler, group: MultiThreadedEventLoopGroup.singleton, logger: logger, requestTimeout: requestTimeout
        )
        let group = ServiceGroup(configuration: .init(services: [server], logger: logger))
        let running = Task { try await group.run() }
        do {
            let result = try await body(path)
            await group.triggerGracefulShutdown()
            try await running.value
            return result
        } catch {
            await group.triggerGracefulShutdown()
            _ = try? await running.value
            throw error
        }
    }
}

/// opsctl's client against opsd's server, both real, over a unix socket.
@Suite("control socket round trip")
struct RoundTripTests {
    @Test("a request arrives whole (method, path, query, body) and its answer comes back with its status")
    func roundTrip() async throws {
        let handler = RecordingHandler()
        try await withServer(handler) { path in
            // A safety net, not a limit: the suite's first minute saturates both cores.
            let client = ControlClient(socketPath: path, timeout: .seconds(180))
            let body = Array(#"{"name":"web"}"#.utf8)
            let response = try await client.send(ControlRequest(method: "POST", path: "/v1/workers/web/restart", query: ["why": "a b&c"], body: body))
            #expect(response.status == 200)
            let echoed = try response.decode(RecordingHandler.Seen.self)
            #expect(echoed == .init(method: "POST", path: "/v1/workers/web/restart", query: ["why": "a b&c"], bodySize: body.count))

            // Not sendBlocking: a cooperative thread blocked on the answer is one the handler cannot run on.
            let teapot = try await client.send(ControlRequest(method: "GET", path: "/v1/teapot"))
            #expect(teapot.status == 418)
            #expect(handler.requests.map(\.path) == ["/v1/workers/web/restart", "/v1/teapot"])
        }
    }

    @Test("a body of 1 MiB is served; one byte more is refused with 413 and never reaches the handler")
    func bodySizeLimit() async throws {
        let handler = RecordingHandler()
        // Sending 2 MiB may outlast opsd's 5 s request deadline on a machine busy with the whole
        // suite; the deadline has its own test.
        try await withServer(handler, requestTimeout: .seconds(120)) { path in
            let client = ControlClient(socketPath: path)
            let largest = try await client.send(ControlRequest(method: "POST", path: "/v1/big", body: [UInt8](repeating: 0x20, count: ControlServer.maximumBodySize)))
            #expect(largest.status == 200)
            #expect(try largest.decode(RecordingHandler.Seen.self).bodySize == ControlServer.maximumBodySize)

            let tooLarge = try await client.send(ControlRequest(method: "POST", path: "/v1/too-big", body: [UInt8](repeating: 0x20, count: ControlServer.maximumBodySize + 1)))
            #expect(tooLarge.status == 413)
            #expect(String(decoding: tooLarge.body, as: UTF8.self).contains("the request body is larger than 1 MiB"))
            #expect(handler.requests.map(\.path) == ["/v1/big"])
        }
    }

    @Test("a connection that sends only part of its request is closed after the request timeout, unanswered")
    func requestTimeout() async throws {
        let handler = RecordingHandler()
        try await withServer(handler) { path in
            let held = HeldConnections()
            try held.connectUnix(path)
            let descriptor = held.descriptors[0]
            let partial = Array("GET /v1/ping HTTP/1.1\r\nHost: opsd\r\n".utf8)
            #expect(write(descriptor, partial, partial.count) == partial.count)
            // Blocks until the server closes the connection (read returns 0). SO_RCVTIMEO is only a
            // safety net far beyond the 5 s deadline, so a server that never closes fails the test
            // (read returns -1) instead of hanging it.
            var limit = timeval(tv_sec: 60, tv_usec: 0)
            setsockopt(descriptor, SOL_SOCKET, SO_RCVTIMEO, &limit, socklen_t(MemoryLayout<timeval>.size))
            let (count, received) = try await onOwnThread(named: "test-read") { () -> (Int, [UInt8]) in
                var buffer = [UInt8](repeating: 0, count: 4096)
                let count = read(descriptor, &buffer, buffer.count)
                return (count, Array(buffer[..<max(count, 0)]))
            }
            #expect(count == 0, "expected the server to close the connection, read returned \(count) (\(String(decoding: received, as: UTF8.self)))")
            #expect(handler.requests.isEmpty)

            // The listener still serves complete requests.
            #expect(try await ControlClient(socketPath: path).send(ControlRequest(method: "GET", path: "/v1/ping")).status == 200)
        }
    }

    @Test("a client gives up on a server that does not answer within its timeout")
    func clientTimeout() async throws {
        let handler = RecordingHandler(hold: true)
        try await withServer(handler) { path in
            let client = ControlClient(socketPath: path, timeout: .milliseconds(300))
            await #expect(throws: ControlClientError.timedOut(socket: path, after: .milliseconds(300))) {
                try await client.send(ControlRequest(method: "GET", path: "/v1/status"))
            }
            handler.release()
        }
    }

    @Test("a second server on the same socket is refused and names the holder")
    func secondServerRefused() async throws {
        try await withServer(RecordingHandler()) { path in
            await #expect(throws: ControlServerError.alreadyRunning(socket: path, pid: getpid())) {
                _ = try await ControlServer.bind(path: path, handler: RecordingHandler(), group: MultiThreadedEventLoopGroup.singleton, logger: Logger(label: "second"))
            }
        }
    }
}

/// What opsctl says when there is no opsd to talk to.
@Suite("control client without a server")
struct ClientFailureTests {
    @Test("no socket file: opsd is not running")
    func notRunning() async throws {
        try await withSocketDirectory { directory in
            let path = directory + "/opsd.sock"
            #expect(throws: ControlClientError.notRunning(socket: path)) { try ControlClient(socketPath: path).sendBlocking(ControlRequest(method: "GET", path: "/v1/ping")) }
        }
    }

    @Test("a regular file at the socket path is not a socket")
    func notASocket() async throws {
        try await withSocketDirectory { directory in
            let path = directory + "/opsd.sock"
            #expect(FileManager.default.createFile(atPath: path, contents: Data()))
            #expect(throws: ControlClientError.notASocket(path: path)) { try ControlClient(socketPath: path).sendBlocking(ControlRequest(method: "GET", path: "/v1/ping")) }
        }
    }

    @Test("a socket file nobody listens on is stale")
    func staleSocket() async throws {
        try await withSocketDirectory { directory in
            let path = directory + "/opsd.sock"
            // Bound and closed without unlinking: what a killed opsd leaves behind.
            let descriptor = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
            var address = sockaddr_un()
            address.sun_family = sa_family_t(AF_UNIX)
            withUnsafeMutableBytes(of: &address.sun_path) { buffer in
                for (index, byte) in path.utf8.enumerated() { buffer[index] = byte }
            }
            let bound = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(descriptor, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
            }
            close(descriptor)
            try #require(bound == 0)
            #expect(throws: ControlClientError.staleSocket(socket: path)) { try ControlClient(socketPath: path).sendBlocking(ControlRequest(method: "GET", path: "/v1/ping")) }
        }
    }
}

/// Clients connecting while the listener shuts down: NIO's async server hands accepted
/// connections over through a buffer, and a wrapped connection dropped from it on close stopped
/// the process ("Deinited NIOAsyncWriter without calling finish()"; seen in the fleet test as a
/// SIGILL of opsd on SIGTERM while Prometheus scraped).
@Suite("control socket shutdown under connection load", .serialized)
struct ShutdownUnderLoadTests {
    @Test("a listener closing while 200 clients connect neither stops the process nor leaves a connection unclosed", arguments: 0..<40)
    func closeWhileConnecting(round: Int) async throws {
        try await withSocketDirectory { directory in
            let path = directory + "/opsd.sock"
            let logger = Logger(label: "shutdown-under-load")
            let server = try await ControlServer.bind(path: path, handler: RecordingHandler(), group: MultiThreadedEventLoopGroup.singleton, logger: logger)
            let group = ServiceGroup(configuration: .init(services: [server], logger: logger))
            let running = Task { try await group.run() }
            // It serves: one request answers. (The rounds run one after another: fifteen at once,
            // 3000 connections beside the rest of the suite, kept this ping waiting 10 s in CI.)
            _ = try await ControlClient(socketPath: path, timeout: .seconds(60)).send(ControlRequest(method: "GET", path: "/v1/ping"))
            // 200 connections as fast as a thread can open them, half of them sending a request,
            // while the listener is told to stop.
            let clients = Task.detached {
                await onNewThread { () -> [Int32] in
                    var descriptors: [Int32] = []
                    for index in 0..<200 {
                        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
                        guard fd >= 0 else { break }
                        var address = sockaddr_un()
                        address.sun_family = sa_family_t(AF_UNIX)
                        withUnsafeMutableBytes(of: &address.sun_path) { raw in
                            for (offset, byte) in path.utf8.enumerated() where offset < raw.count - 1 { raw[offset] = byte }
                        }
                        let connected = withUnsafePointer(to: &address) {
                            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
                        }
                        if connected == 0, index.isMultiple(of: 2) {
                            let request = Array("GET /v1/ping HTTP/1.1\r\nHost: opsd\r\n\r\n".utf8)
                            _ = request.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
                        }
                        descriptors.append(fd)
                    }
                    return descriptors
                }
            }
            await group.triggerGracefulShutdown()
            try await running.value
            for fd in await clients.value { close(fd) }
            // The socket is gone with the listener: nothing serves any more.
            #expect(access(path, F_OK) != 0)
        }
    }
}
