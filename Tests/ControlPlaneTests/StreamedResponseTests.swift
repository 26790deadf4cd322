@testable import ControlPlane
import Foundation
import Logging
import NIOCore
import NIOPosix
import ServiceLifecycle
import Synchronization
import Testing
import TestSupport

/// A handler whose answer is streamed: its first piece, then (once the test has seen that piece
/// arrive) its second; so a client that only hands over a whole answer cannot pass.
private final class GatedStream: ControlHandler {
    private let gate = Mutex<(waiter: CheckedContinuation<Void, Never>?, open: Bool)>((nil, false))

    func handle(_ request: ControlRequest) async -> ControlResponse {
        guard request.path == "/v1/stream" else { return .error("no such path", status: 404) }
        return .streamed(contentType: "application/x-ndjson") { body in
            try await body.write(Array("first\n".utf8))
            await withCheckedContinuation { continuation in
                let now = self.gate.withLock { state in
                    if state.open { return true }
                    state.waiter = continuation
                    return false
                }
                if now { continuation.resume() }
            }
            try await body.write(Array("second\n".utf8))
            try await body.write([UInt8](repeating: UInt8(ascii: "x"), count: 100_000) + [10])
        }
    }

    func open() {
        gate.withLock { state -> CheckedContinuation<Void, Never>? in
            state.open = true
            defer { state.waiter = nil }
            return state.waiter
        }?.resume()
    }
}

/// What the client has handed over so far; wakes a waiter for a given count of bytes.
private final class Received: Sendable {
    private let state = Mutex<(bytes: [UInt8], waiter: (count: Int, continuation: CheckedContinuation<Void, Never>)?)>(([], nil))

    @Sendable func add(_ piece: [UInt8]) {
        state.withLock { state -> CheckedContinuation<Void, Never>? in
            state.bytes += piece
            guard let waiter = state.waiter, state.bytes.count >= waiter.count else { return nil }
            state.waiter = nil
            return waiter.continuation
        }?.resume()
    }

    func wait(for count: Int) async {
        await withCheckedContinuation { continuation in
            let now = state.withLock { state in
                if state.bytes.count >= count { return true }
                state.waiter = (count, continuation)
                return false
            }
            if now { continuation.resume() }
        }
    }

    var text: String { state.withLock { String(decoding: $0.bytes, as: UTF8.self) } }
}

/// An endless streamed answer; says how its writing ended.
private final class EndlessStream: ControlHandler {
    private let ended = Mutex<(error: String?, waiter: CheckedContinuation<String, Never>?)>((nil, nil))

    func handle(_ request: ControlRequest) async -> ControlResponse {
        guard request.path == "/v1/stream" else { return .error("no such path", status: 404) }
        return .streamed(contentType: "application/x-ndjson") { body in
            let piece = [UInt8](repeating: UInt8(ascii: "x"), count: 65_535) + [10]
            do {
                while true { try await body.write(piece) }
            } catch {
                self.ended.withLock { state -> CheckedContinuation<String, Never>? in
                    state.error = "\(error)"
                    defer { state.waiter = nil }
                    return state.waiter
                }?.resume(returning: "\(error)")
                throw error
            }
        }
    }

    /// The error the write ended with, once it has.
    func writeError() async -> String {
        await withCheckedContinuation { continuation in
            let now = ended.withLock { state -> String? in
                if let error = state.error { return error }
                state.waiter = continuation
                return nil
            }
            if let now { continuation.resume(returning: now) }
        }
    }
}

@Suite("control socket: a streamed answer arrives as it is written")
struct StreamedResponseTests {
    @Test("the client hands over the first piece while the handler still holds the rest, then the rest, whole")
    func piecesArriveAsWritten() async throws {
        var template = Array("/tmp/ops-cs-XXXXXX".utf8CString)
        let directory = try #require(mkdtemp(&template).map { String(cString: $0) })
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = directory + "/opsd.sock"
        let logger = Logger(label: "streamed-response-tests")
        let handler = GatedStream()
        let server = try await ControlServer.bind(path: path, handler: handler, group: MultiThreadedEventLoopGroup.singleton, logger: logger)
        let group = ServiceGroup(configuration: .init(services: [server], logger: logger))
        let running = Task { try await group.run() }
        defer { handler.open() }

        let received = Received()
        let client = ControlClient(socketPath: path)
        let answer = Task { try await client.stream(ControlRequest(method: "POST", path: "/v1/stream"), receive: received.add) }
        // Only the first piece exists until the gate opens: seeing it proves it was not held back.
        await received.wait(for: 6)
        #expect(received.text == "first\n")
        handler.open()
        let response = try await answer.value
        #expect(response.status == 200)
        #expect(response.body.isEmpty)
        #expect(received.text == "first\nsecond\n" + String(repeating: "x", count: 100_000) + "\n")

        // An error is not streamed: it comes back with its body.
        let missing = try await client.stream(ControlRequest(method: "GET", path: "/v1/nothing"), receive: received.add)
        #expect(missing.status == 404)
        #expect(String(decoding: missing.body, as: UTF8.self).contains("no such path"))

        await group.triggerGracefulShutdown()
        try await running.value
    }

    @Test("a client that stops reading a streamed answer is cut off after the write-stall timeout, and the writer's task ends", .timeLimit(.minutes(3)))
    func stalledReaderIsClosed() async throws {
        var template = Array("/tmp/ops-cs-XXXXXX".utf8CString)
        let directory = try #require(mkdtemp(&template).map { String(cString: $0) })
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = directory + "/opsd.sock"
        let logger = Logger(label: "streamed-response-tests")
        let handler = EndlessStream()
        let server = try await ControlServer.bind(
            path: path, handler: handler, group: MultiThreadedEventLoopGroup.singleton, logger: logger, writeStallTimeout: .seconds(1)
        )
        let group = ServiceGroup(configuration: .init(services: [server], logger: logger))
        let running = Task { try await group.run() }

        // A client that sends its request and never reads: the socket's buffers fill, the
        // channel turns unwritable, and a second later the connection is closed.
        let held = HeldConnections()
        try held.connectUnix(path)
        let request = Array("POST /v1/stream HTTP/1.1\r\nHost: opsd\r\nContent-Length: 0\r\n\r\n".utf8)
        #expect(write(held.descriptors[0], request, request.count) == request.count)
        let error = await handler.writeError()
        #expect(!error.isEmpty)
        // The listener serves others all along.
        let client = ControlClient(socketPath: path)
        #expect(try await client.send(ControlRequest(method: "GET", path: "/v1/other")).status == 404)
        held.closeAll()
        await group.triggerGracefulShutdown()
        try await running.value
    }

    @Test("a chunked body cut at every possible byte gives back the same data and sees its end")
    func chunkedBodyAtEveryCut() {
        let wire = Array("5\r\nhello\r\n1;ext=1\r\n \r\nB\r\nworld, done\r\n0\r\n\r\n".utf8)
        for cut in 0...wire.count {
            var decoder = ChunkedBody()
            let first = decoder.feed(wire[..<cut])
            let second = decoder.feed(wire[cut...])
            #expect(String(decoding: (first.pieces + second.pieces).flatMap { $0 }, as: UTF8.self) == "hello world, done", "cut at \(cut)")
            #expect(second.ended || first.ended, "cut at \(cut)")
        }
    }
}
