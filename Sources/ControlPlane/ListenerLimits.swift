import Glibc
import NIOCore
import NIOHTTP1
import Synchronization

/// How many connections one listener serves at once. Beyond it, a new connection is answered 503
/// and closed at once, so a flood on one listener holds at most `limit` descriptors and cannot
/// take the descriptors, or the event loop's time, that the other listener and the watchdog need.
final class ConnectionBudget: Sendable {
    let limit: Int
    private let open = Atomic<Int>(0)

    init(limit: Int) {
        self.limit = limit
    }

    /// Takes a place for `channel` if one is free, and gives it back when the channel closes.
    func admit(_ channel: any Channel) -> Bool {
        let (taken, _) = open.wrappingAdd(1, ordering: .relaxed)
        guard taken <= limit else {
            open.wrappingSubtract(1, ordering: .relaxed)
            return false
        }
        channel.closeFuture.whenComplete { _ in self.open.wrappingSubtract(1, ordering: .relaxed) }
        return true
    }
}

/// Closes a connection that has not delivered a complete request within `timeout` of being
/// accepted. A total deadline, not an idle timer: a client that sends one byte a second would
/// keep an idle timer from ever firing. Removed from the clock once the request's end arrives,
/// so a slow handler (a worker restart) is not cut off.
final class RequestDeadline: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias InboundOut = HTTPServerRequestPart

    private let timeout: TimeAmount
    private var timer: Scheduled<Void>?

    init(timeout: TimeAmount) {
        self.timeout = timeout
    }

    func handlerAdded(context: ChannelHandlerContext) {
        let loopBound = NIOLoopBound(context, eventLoop: context.eventLoop)
        timer = context.eventLoop.scheduleTask(in: timeout) { loopBound.value.close(promise: nil) }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        timer?.cancel()
        timer = nil
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if case .end = unwrapInboundIn(data) {
            timer?.cancel()
            timer = nil
        }
        context.fireChannelRead(data)
    }
}

/// Closes a connection whose client has stopped reading: when the answer fills the socket's
/// buffers NIO marks the channel unwritable, and if it stays so for `timeout` the connection is
/// closed, so the write waiting on it fails and its task ends. A client that reads again, even
/// slowly, stops the clock: this bounds a stall, not the length of an answer.
final class WriteStallDeadline: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias InboundOut = HTTPServerRequestPart

    private let timeout: TimeAmount
    private var timer: Scheduled<Void>?

    init(timeout: TimeAmount) {
        self.timeout = timeout
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable {
            timer?.cancel()
            timer = nil
        } else if timer == nil {
            let loopBound = NIOLoopBound(context, eventLoop: context.eventLoop)
            timer = context.eventLoop.scheduleTask(in: timeout) { loopBound.value.close(promise: nil) }
        }
        context.fireChannelWritabilityChanged()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        timer?.cancel()
        timer = nil
    }
}

/// Answers a connection that will not be served with one HTTP response, then closes it; the
/// request is not read.
final class Refusal: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private let response: ControlResponse

    init(_ response: ControlResponse) {
        self.response = response
    }

    func channelActive(context: ChannelHandlerContext) {
        let reason = HTTPResponseStatus(statusCode: response.status).reasonPhrase
        let head = "HTTP/1.1 \(response.status) \(reason)\r\nContent-Type: \(response.contentType)\r\nContent-Length: \(response.body.count)\r\nConnection: close\r\n\r\n"
        var buffer = context.channel.allocator.buffer(capacity: head.utf8.count + response.body.count)
        buffer.writeString(head)
        buffer.writeBytes(response.body)
        let loopBound = NIOLoopBound(context, eventLoop: context.eventLoop)
        context.writeAndFlush(wrapOutboundOut(buffer)).whenComplete { _ in loopBound.value.close(promise: nil) }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {}
}

/// The process's open-descriptor limit.
public enum DescriptorLimit {
    /// Raises the soft `RLIMIT_NOFILE` to the hard limit, as daemons do: the default soft limit
    /// (1024) is a compatibility cap for select(2), which opsd does not use. Returns the limits
    /// before and after, or nil when they could not be read.
    @discardableResult
    public static func raiseToHardLimit() -> (before: UInt, after: UInt)? {
        var limit = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 else { return nil }
        let before = UInt(limit.rlim_cur)
        guard limit.rlim_cur < limit.rlim_max else { return (before, before) }
        limit.rlim_cur = limit.rlim_max
        guard setrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 else { return (before, before) }
        return (before, UInt(limit.rlim_cur))
    }
}
