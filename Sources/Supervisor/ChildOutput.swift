import CSystemd
import FoundationEssentials
import Glibc
public import Logging
public import NIOCore
import NIOPosix
import OpsConfig

/// Where a child's stdout and stderr go (a worker's, or a command job's).
///
/// Under journald each child gets its own journal stream (`sd_journal_stream_fd`) with its name
/// as SYSLOG_IDENTIFIER: the child writes straight to journald, opsd never copies a byte, and a
/// stuck opsd cannot block a chatty child. Elsewhere (a terminal, a pipe) opsd relays each line
/// into its own log format with a field naming the child (`worker`, or `job`).
public struct ChildOutput: Sendable {
    let useJournal: Bool
    let eventLoops: any EventLoopGroup
    let logger: Logger
    let field: String

    /// Output for children named in log lines by `field` (`worker`, `job`); journal streams when `useJournal`.
    public init(useJournal: Bool, eventLoops: any EventLoopGroup, logger: Logger, field: String = "worker") {
        self.useJournal = useJournal
        self.eventLoops = eventLoops
        self.logger = logger
        self.field = field
    }

    /// The descriptor to give the child as stdout and stderr: hand it to the spawn
    /// (`LaunchRecipe.output`), which closes it once the child has its copy.
    public func descriptor(for worker: String) -> Int32? {
        if useJournal {
            // LOG_INFO, and "<N>" prefixes in the output set a line's priority (level_prefix).
            let fd = sd_journal_stream_fd(worker, 6, 1)
            if fd >= 0 { return fd }
            logger.warning("cannot open a journal stream; the output is relayed instead", metadata: [field: "\(worker)"])
        }
        var ends: [Int32] = [0, 0]
        guard pipe(&ends) == 0 else { return nil }
        _ = fcntl(ends[0], F_SETFD, FD_CLOEXEC)
        _ = fcntl(ends[1], F_SETFD, FD_CLOEXEC)
        let logger = self.logger
        let field = self.field
        _ = NIOPipeBootstrap(group: eventLoops)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(LineRelay(worker: worker, field: field, logger: logger))
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
    private let field: String
    private let logger: Logger
    private var pending: [UInt8] = []
    private static let longestLine = 65536

    init(worker: String, field: String, logger: Logger) {
        self.worker = worker
        self.field = field
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
        if bytes.first == UInt8(ascii: "{"), let line = StructuredLine(bytes) {
            var metadata = line.fields
            metadata[field] = "\(worker)"
            metadata["stream"] = "output"
            return logger.log(level: line.level, "\(line.message)", metadata: metadata)
        }
        logger.info("\(String(decoding: bytes, as: UTF8.self))", metadata: [field: "\(worker)", "stream": "output"])
    }
}

/// A child's output line that is one JSON object (what structured loggers such as structlog,
/// pino, zap or Python's json formatters write), taken apart so that it is relayed as fields of
/// opsd's own log line instead of as an escaped string inside its message: a log shipper parses
/// once. Its message and level become the line's; every other key becomes a field (a nested
/// value as compact JSON); a key that is one of opsd's own fields gets an `app_` prefix.
struct StructuredLine {
    let message: String
    let level: Logger.Level
    let fields: Logger.Metadata

    /// The keys a message and a level go by in common loggers, in order of preference.
    private static let messageKeys = ["message", "msg"]
    private static let levelKeys = ["level", "levelname", "severity", "lvl"]

    /// Nil when the line is not one JSON object.
    init?(_ bytes: ArraySlice<UInt8>) {
        guard case .object(var object)? = try? JSONDecoder().decode(JSONValue.self, from: Data(bytes)) else { return nil }
        let messageKey = Self.messageKeys.first { if case .string = object[$0] { true } else { false } }
        message = messageKey.flatMap { object.removeValue(forKey: $0) }.map(Self.text) ?? String(decoding: bytes, as: UTF8.self)
        let levelKey = Self.levelKeys.first { if case .string(let name) = object[$0] { Self.level(name) != nil } else { false } }
        if let levelKey, case .string(let name)? = object.removeValue(forKey: levelKey), let level = Self.level(name) {
            self.level = level
        } else {
            level = .info
        }
        var fields: Logger.Metadata = [:]
        for (key, value) in object {
            let name = ["worker", "job", "stream"].contains(key) ? "app_\(key)" : key
            fields[name] = "\(Self.text(value))"
        }
        self.fields = fields
    }

    /// syslog's and the common loggers' level names, in any case.
    private static func level(_ name: String) -> Logger.Level? {
        switch name.lowercased() {
        case "trace": .trace
        case "debug": .debug
        case "info", "information": .info
        case "notice": .notice
        case "warn", "warning": .warning
        case "error", "err": .error
        case "critical", "crit", "fatal", "panic", "alert", "emerg", "emergency": .critical
        default: nil
        }
    }

    /// A string as itself; anything else as compact JSON (`3`, `true`, `{"a":1}`).
    private static func text(_ value: JSONValue) -> String {
        if case .string(let text) = value { return text }
        if case .number(let number) = value, number.rounded() == number, abs(number) < 1e15 { return String(Int64(number)) }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return (try? encoder.encode(value)).map { String(decoding: $0, as: UTF8.self) } ?? ""
    }
}
