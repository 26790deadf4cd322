import Foundation
import NIOCore
import NIOPosix
import NIOSSL
import NIOTLS

/// Reads the expiry of a TLS server's certificate with a handshake of its own.
///
/// AsyncHTTPClient does not expose the peer certificate, so this opens one more connection. It
/// does not verify the chain: the HTTP request itself does that; here only the date matters, and
/// a certificate about to expire must be reported even when it is self-signed.
enum CertificateProbe {
    /// Days until `notAfter` of the certificate `url`'s server presents (negative once expired).
    static func daysLeft(url: String, deadline: ContinuousClock.Instant) async throws -> Double {
        guard let components = URLComponents(string: url), let host = components.host else {
            throw CheckFailure("\(url) names no host")
        }
        let port = components.port ?? 443
        var tls = TLSConfiguration.makeClientConfiguration()
        tls.certificateVerification = .none
        let context = try NIOSSLContext(configuration: tls)
        let isAddress = host.allSatisfy { $0.isNumber || $0 == "." || $0 == ":" }
        let remaining = deadline - ContinuousClock.now
        let promiseBox = PromiseBox()
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .connectTimeout(.nanoseconds(max(1, HTTPCheck.nanoseconds(remaining))))
            .channelInitializer { channel in
                let promise = channel.eventLoop.makePromise(of: Int.self)
                promiseBox.set(promise.futureResult)
                return channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(
                        try NIOSSLClientHandler(context: context, serverHostname: isAddress ? nil : host)
                    )
                    try channel.pipeline.syncOperations.addHandler(HandshakeListener(promise: promise))
                }
            }
            .connect(host: host, port: port).get()
        defer { channel.close(promise: nil) }
        guard let future = promiseBox.get() else { throw CheckFailure("the TLS handshake with \(host) did not start") }
        let notAfter = try await future.get()
        return (Double(notAfter) - Date().timeIntervalSince1970) / 86400
    }
}

/// Hands the channel initializer's promise to the caller.
private final class PromiseBox: @unchecked Sendable {
    // Written once on the event loop before connect() completes, read after: the connect
    // future's completion orders the two.
    private var future: EventLoopFuture<Int>?
    func set(_ future: EventLoopFuture<Int>) { self.future = future }
    func get() -> EventLoopFuture<Int>? { future }
}

/// Completes with the peer certificate's notAfter (seconds since 1970) once the handshake is done.
private final class HandshakeListener: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = NIOAny
    private let promise: EventLoopPromise<Int>
    private var completed = false

    init(promise: EventLoopPromise<Int>) {
        self.promise = promise
    }

    /// Completes the promise once; later events (the close after a failure) are ignored.
    private func complete(_ result: Result<Int, any Error>) {
        guard !completed else { return }
        completed = true
        promise.completeWith(result)
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case TLSUserEvent.handshakeCompleted = event {
            do {
                let handler = try context.pipeline.syncOperations.handler(type: NIOSSLClientHandler.self)
                guard let certificate = handler.peerCertificate else { throw CheckFailure("the server presented no certificate") }
                complete(.success(Int(certificate.notValidAfter)))
            } catch {
                complete(.failure(error))
            }
        }
        context.fireUserInboundEventTriggered(event)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        complete(.failure(error))
        context.close(promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        complete(.failure(CheckFailure("the server closed the connection during the TLS handshake")))
        context.fireChannelInactive()
    }
}
