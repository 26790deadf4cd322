import CSystemd
import Foundation
import Logging
import NIOCore
import NIOPosix

/// Where a worker's stdout and stderr go.
///
/// Under journald each worker gets its own journal stream (`sd_journal_stream_fd`) with its name
/// as SYSLOG_IDENTIFIER: the worker writes straight to journald, opsd never copies a byte, and a
/// stuck opsd cannot block a chatty worker. Elsewhere (a terminal, a pipe) opsd relays each line
/// into its own log format with a `worker` field.
struct WorkerOutput: Sendable {
    let useJournal: Bool
    let eventLoops: any EventLoopGroup
    let logger: Logger

    /// The descriptor to give the child as stdout and stderr; the caller closes it after spawning.
    func descriptor(for worker: String) -> Int32? {
        if useJournal {
            // LOG_INFO, and "<N>" prefixes in the output set a line's priority (level_prefix).
            let fd = sd_journal_stream_fd(worker, 6, 1)
            if fd >= 0 { return fd }
            logger.warning("cannot open a journal stream for a worker; its output is relayed instead", metadata: ["worker": "\(worker)"])
        }
        var ends: [Int32] = [0, 0]
        guard pipe(&ends) == 0 else { return nil }
        _ = fcntl(ends[0], F_SETFD, FD_CLOEXEC)
        _ = fcntl(ends[1], F_SETFD, FD_CLOEXEC)
        let logger = self.logger
        _ = NIOPipeBootstrap(group: eventLoops)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(LineRelay(worker: worker, logger: logger))
                }
            }
            .takingOwnershipOfDescriptor(input: ends[0])
        return ends[1]
    }
}

/// Logs each line read from a worker's output pipe.
///
/// A write is not a line: a program may write one line in several pieces (an unbuffered Python
/// `print`), or several lines at once. Incomplete text waits for its newline, or for the end of
/// the stream, and a line longer than 64 KiB is logged in pieces rather than held forever.
final class LineRelay: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    private let worker: String
    private let logger: Logger
    private var pending: [UInt8] = []
    private static let longestLine = 65536

    init(worker: String, logger: Logger) {
        self.worker = worker
        self.logger = logger
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var buffer = unwrapInboundIn(data)
        pending += buffer.readBytes(length: buffer.readableBytes) ?? []
        while let newline = pending.firstIndex(of: UInt8(ascii: "\n")) {
            emit(pending[..<newline])
            pending.removeSubrange(...newline)
        }
        if pending.count >= Self.longestLine {
            emit(pending[...])
            pending.removeAll()
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        if !pending.isEmpty { emit(pending[...]) }
        pending.removeAll()
        context.fireChannelInactive()
    }

    private func emit(_ bytes: ArraySlice<UInt8>) {
        guard !bytes.isEmpty else { return }
        logger.info("\(String(decoding: bytes, as: UTF8.self))", metadata: ["worker": "\(worker)", "stream": "output"])
    }
}
