import CSystemd
public import DaemonRuntime
import FoundationEssentials
import Glibc
public import Logging
public import NIOCore
import NIOPosix
import OpsConfig

/// Where a child's stdout and stderr go (a worker's, or a command job's).
///
/// Under journald each child gets its own journal stream (`sd_journal_stream_fd`) with its name
/// as SYSLOG_IDENTIFIER: a worker writes straight to journald, opsd never copies a byte, and a
/// stuck opsd cannot block a chatty worker (a job run, whose tail opsd keeps, is relayed: see
/// `descriptor(for:keeping:)`). Elsewhere (a terminal, a pipe) opsd relays each line into its own
/// log format with a field naming the child (`worker`, or `job`).
public struct ChildOutput: Sendable {
    let useJournal: Bool
    let eventLoops: any EventLoopGroup
    let logger: Logger
    let field: String
    /// What opsd keeps of each worker's and job's newest output outside journald.
    public static let recentBytes = 65536
    /// The recent output of each child, kept only outside journald (where the journal keeps it),
    /// when asked for: what `opsctl logs` reads there.
    public let recent: RecentOutput?

    /// Output for children named in log lines by `field` (`worker`, `job`); journal streams when
    /// `useJournal`. Outside journald, `recentBytes` keeps that much of each child's newest output
    /// (`ChildOutput.recentBytes` is what opsd keeps).
    public init(useJournal: Bool, eventLoops: any EventLoopGroup, logger: Logger, field: String = "worker", recentBytes: Int? = nil) {
        self.useJournal = useJournal
        self.eventLoops = eventLoops
        self.logger = logger
        self.field = field
        self.recent = useJournal ? nil : recentBytes.map(RecentOutput.init(bytesPerChild:))
    }

    /// The descriptor to give the child as stdout and stderr: hand it to the spawn
    /// (`LaunchRecipe.output`), which closes it once the child has its copy. With `ring`, its
    /// output is also kept there (a job run's tail).
    ///
    /// A kept tail needs opsd to see the bytes, so under journald such a child writes into a pipe
    /// that opsd relays, unchanged, to the child's own journal stream: the journal gets what it
    /// would have got (identifier, `<N>` priorities), and the tail is exact, with no `journalctl`
    /// to run and no reliance on the journal still holding the run. The relay writes without
    /// blocking and drops what a stuck journald cannot take, so a chatty job never waits on it
    /// (only on opsd's event loop reading the pipe, like any relayed child).
    public func descriptor(for worker: String, keeping ring: OutputRing? = nil) -> Int32? {
        if useJournal {
            // LOG_INFO, and "<N>" prefixes in the output set a line's priority (level_prefix).
            let journal = sd_journal_stream_fd(worker, 6, 1)
            if journal >= 0 {
                guard let ring else { return journal }
                _ = fcntl(journal, F_SETFL, fcntl(journal, F_GETFL) | O_NONBLOCK)
                _ = fcntl(journal, F_SETFD, FD_CLOEXEC)
                ring.attach()
                if let fd = relay({ JournalTee(journal: journal, ring: ring) }) { return fd }
                ring.detach()
                close(journal)
                return nil
            }
            logger.warning("cannot open a journal stream; the output is relayed instead", metadata: [field: "\(worker)"])
        }
        let logger = self.logger
        let field = self.field
        let rings = [ring, recent?.ring(for: worker)].compactMap { $0 }
        for ring in rings { ring.attach() }
        guard let fd = relay({ LineRelay(worker: worker, field: field, logger: logger, rings: rings) }) else {
            for ring in rings { ring.detach() }
            return nil
        }
        return fd
    }

    /// A pipe whose read end `handler` serves on an event loop; returns its write end.
    private func relay<Handler: ChannelInboundHandler>(_ handler: @escaping @Sendable () -> Handler) -> Int32? {
        var ends: [Int32] = [0, 0]
        guard pipe(&ends) == 0 else { return nil }
        _ = fcntl(ends[0], F_SETFD, FD_CLOEXEC)
        _ = fcntl(ends[1], F_SETFD, FD_CLOEXEC)
        _ = NIOPipeBootstrap(group: eventLoops)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(handler())
                }
            }
            .takingOwnershipOfDescriptor(input: ends[0])
        return ends[1]
    }
}

/// Copies a job's output, as it comes, to its journal stream and into its tail.
final class JournalTee: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    private let journal: Int32
    private let ring: OutputRing

    init(journal: Int32, ring: OutputRing) {
        self.journal = journal
        self.ring = ring
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let buffer = unwrapInboundIn(data)
        buffer.withUnsafeReadableBytes { bytes in
            ring.append(bytes)
            guard let base = bytes.baseAddress else { return }
            var offset = 0
            while offset < bytes.count {
                let written = write(journal, base + offset, bytes.count - offset)
                if written > 0 { offset += written } else if written < 0, errno == EINTR { continue } else { break }
            }
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        close(journal)
        ring.detach()
        context.fireChannelInactive()
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
    /// Where the output is kept too: a job run's tail, the child's recent output.
    private let rings: [OutputRing]
    private var pending: [UInt8] = []
    private static let longestLine = 65536

    init(worker: String, field: String, logger: Logger, rings: [OutputRing] = []) {
        self.worker = worker
        self.field = field
        self.logger = logger
        self.rings = rings
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var buffer = unwrapInboundIn(data)
        let bytes = buffer.readBytes(length: buffer.readableBytes) ?? []
        for ring in rings { ring.append(bytes) }
        pending += bytes
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
        for ring in rings { ring.detach() }
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
