import ControlPlane
import Foundation
import Synchronization
import Testing
import TestSupport

/// A scratch directory with a short path (unix socket paths are limited to 107 bytes).
struct Scratch {
    let path: String

    init() throws {
        var template = Array("/tmp/opsd-it-XXXXXX".utf8CString)
        guard mkdtemp(&template) != nil else { throw TestFailure("mkdtemp failed") }
        path = String(decoding: template.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    func write(_ name: String, _ text: String) throws -> String {
        let file = "\(path)/\(name)"
        try text.write(toFile: file, atomically: true, encoding: .utf8)
        return file
    }

    /// A minimal valid config whose socket and state live in this directory.
    func config(extra: String = "", name: String = "ops.yaml") throws -> String {
        try write(name, """
            daemon:
              socket: \(path)/opsd.sock
              state_dir: \(path)/state
            \(extra)
            """)
    }

    var socket: String { "\(path)/opsd.sock" }
}

/// The receiving end of the sd_notify protocol, as systemd has it: a datagram socket whose path
/// goes into `NOTIFY_SOCKET`. Tests wait on these messages instead of sleeping.
///
/// Like PID 1, it reads every message as it arrives (on a thread of its own): a socket nobody
/// drains fills up, and then opsd's next sd_notify blocks, which is not what a test is about.
final class NotifyListener: Sendable {
    let path: String
    private let inbox: Inbox

    /// The messages read so far, and how far `next` has looked.
    private final class Inbox: Sendable {
        struct State {
            var messages: [String] = []
            var cursor = 0
            var waiter: CheckedContinuation<Void, Never>?
            var closed = false
        }
        let descriptor: Int32
        let state = Mutex(State())

        init(descriptor: Int32) { self.descriptor = descriptor }

        /// Appends every message queued on the socket; the caller holds the lock, so messages
        /// keep their order whoever reads them.
        static func receiveQueued(_ descriptor: Int32, into state: inout State) {
            var buffer = [UInt8](repeating: 0, count: 4096)
            while true {
                let count = recv(descriptor, &buffer, buffer.count, Int32(MSG_DONTWAIT))
                guard count > 0 else { return }
                state.messages.append(String(decoding: buffer[..<count], as: UTF8.self))
            }
        }

        /// The reading thread: wakes on each message (or every 200 ms, so `next` can check its
        /// time limit) and hands it to a waiting `next`.
        func readUntilClosed() {
            while true {
                var poller = pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0)
                _ = poll(&poller, 1, 200)
                let (waiter, closed) = state.withLock { state in
                    if !state.closed { Self.receiveQueued(descriptor, into: &state) }
                    defer { state.waiter = nil }
                    return (state.waiter, state.closed)
                }
                waiter?.resume()
                if closed { return }
            }
        }
    }

    init(directory: String) throws {
        let path = "\(directory)/notify-\(UUID().uuidString.prefix(8)).sock"
        self.path = path
        let descriptor = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { buffer in
            for (index, byte) in path.utf8.enumerated() { buffer[index] = byte }
        }
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(descriptor, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard result == 0 else {
            close(descriptor)
            throw TestFailure("cannot bind \(path): \(String(cString: strerror(errno)))")
        }
        inbox = Inbox(descriptor: descriptor)
        let thread = Thread { [inbox] in
            inbox.readUntilClosed()
            close(inbox.descriptor)
        }
        thread.start()
    }

    deinit { inbox.state.withLock { $0.closed = true } }

    /// The messages `next` has looked at (up to its last match).
    var received: [String] { inbox.state.withLock { Array($0.messages[..<$0.cursor]) } }

    /// Waits for the next message that satisfies `predicate`; fails after `limit` (a safety net, not
    /// a synchronisation: 3 minutes, as `eventually`'s, and the messages are looked at once more
    /// when it has passed, for one that came while this task waited for a thread).
    func next(where predicate: @escaping @Sendable (String) -> Bool, limit: Duration = .seconds(180)) async throws -> String {
        let deadline = ContinuousClock.now + limit
        while true {
            let match = inbox.state.withLock { state -> String? in
                while state.cursor < state.messages.count {
                    let message = state.messages[state.cursor]
                    state.cursor += 1
                    if predicate(message) { return message }
                }
                return nil
            }
            if let match { return match }
            guard ContinuousClock.now < deadline else { break }
            await withCheckedContinuation { continuation in
                let ready = inbox.state.withLock { state -> Bool in
                    guard state.cursor == state.messages.count, !state.closed else { return true }
                    state.waiter = continuation
                    return false
                }
                if ready { continuation.resume() }
            }
        }
        throw TestFailure("no matching notify message within \(limit); received: \(inbox.state.withLock { $0.messages })")
    }

    /// Every message after the ones `next` has looked at, including those still queued on the
    /// socket: after the sender has exited, the rest.
    func drain() -> [String] {
        inbox.state.withLock { state in
            Inbox.receiveQueued(inbox.descriptor, into: &state)
            defer { state.cursor = state.messages.count }
            return Array(state.messages[state.cursor...])
        }
    }
}

/// One line of opsd's JSON log.
struct LogLine: Sendable {
    let level: String
    let message: String
    let fields: [String: String]

    init?(_ text: String) {
        guard let object = try? JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any],
              let level = object["level"] as? String, let message = object["message"] as? String else { return nil }
        self.level = level
        self.message = message
        self.fields = (object["fields"] as? [String: Any])?.compactMapValues { $0 as? String } ?? [:]
    }
}

/// opsd's stderr, read as it is written: tests wait for the log line that reports an event
/// instead of sleeping.
final class LogStream: @unchecked Sendable {
    private let lock = NSLock()
    private var raw: [String] = []
    private var parsed: [LogLine?] = []
    private var ended = false
    private var waiters: [UUID: () -> Void] = [:]

    init(reading handle: FileHandle) {
        let thread = Thread { [self] in
            var pending = Data()
            while true {
                let chunk = handle.availableData
                if chunk.isEmpty { break }
                pending.append(chunk)
                while let newline = pending.firstIndex(of: UInt8(ascii: "\n")) {
                    let line = String(decoding: pending[pending.startIndex..<newline], as: UTF8.self)
                    pending.removeSubrange(pending.startIndex...newline)
                    append(line)
                }
            }
            lock.lock()
            ended = true
            let all = waiters.values
            lock.unlock()
            all.forEach { $0() }
        }
        thread.start()
    }

    private func append(_ line: String) {
        lock.lock()
        raw.append(line)
        parsed.append(LogLine(line))
        let all = waiters.values
        lock.unlock()
        all.forEach { $0() }
    }

    /// The number of lines so far: a mark to wait for events after.
    var count: Int { lock.withLock { raw.count } }

    var text: String { lock.withLock { raw.joined(separator: "\n") } }

    var lines: [LogLine] { lock.withLock { parsed.compactMap { $0 } } }

    /// The first line at or after `mark` that satisfies `predicate`; fails after `limit` (a safety net).
    /// The predicate runs under the stream's lock: it must not call back into the stream.
    func first(after mark: Int = 0, limit: Duration = .seconds(30), where predicate: @escaping @Sendable (LogLine) -> Bool) async throws -> LogLine {
        try await nth(1, after: mark, limit: limit, where: predicate)
    }

    /// The `n`-th line at or after `mark` that satisfies `predicate`.
    func nth(_ n: Int, after mark: Int = 0, limit: Duration = .seconds(30), where predicate: @escaping @Sendable (LogLine) -> Bool) async throws -> LogLine {
        let id = UUID()
        let deadline = ContinuousClock.now + limit
        while true {
            let (found, isEnded): (LogLine?, Bool) = lock.withLock {
                let matches = parsed[min(mark, parsed.count)...].compactMap { $0 }.filter(predicate)
                return (matches.count >= n ? matches[n - 1] : nil, ended)
            }
            if let found { return found }
            if isEnded { throw TestFailure("opsd's log ended without the expected line; log:\n\(text)") }
            if ContinuousClock.now >= deadline { throw TestFailure("no expected log line within \(limit); log:\n\(text)") }
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let once = ResumeOnce(continuation)
                lock.withLock { waiters[id] = { once.resume() } }
                // Re-check the deadline now and then even if nothing is written.
                DispatchQueue.global().asyncAfter(deadline: .now() + 0.5) { once.resume() }
            }
            lock.withLock { _ = waiters.removeValue(forKey: id) }
        }
    }

    /// Waits until the stream has ended (opsd exited and closed stderr).
    func waitForEnd() async {
        _ = try? await first(limit: .seconds(60)) { _ in false }
    }
}

/// Resumes a continuation at most once, whichever caller comes first.
final class ResumeOnce: @unchecked Sendable {
    private let lock = NSLock()
    private var continuation: CheckedContinuation<Void, Never>?

    init(_ continuation: CheckedContinuation<Void, Never>) {
        self.continuation = continuation
    }

    func resume() {
        lock.withLock {
            continuation?.resume()
            continuation = nil
        }
    }
}

/// A running opsd process.
final class Daemon: @unchecked Sendable {
    let process = Process()
    let logStream: LogStream
    let notify: NotifyListener

    /// Starts opsd (the built one unless `executable` names another) on `config` and waits for READY=1.
    init(
        config: String, scratch: Scratch, executable: String = "\(binDirectory)/opsd", environment: [String: String] = [:], waitForReady: Bool = true
    ) async throws {
        notify = try NotifyListener(directory: scratch.path)
        let stderr = Pipe()
        logStream = LogStream(reading: stderr.fileHandleForReading)
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = ["--config", config]
        var env = ProcessInfo.processInfo.environment
        env["NOTIFY_SOCKET"] = notify.path
        env.removeValue(forKey: "JOURNAL_STREAM")
        env.removeValue(forKey: "OPS_LOG_FORMAT")
        for (key, value) in environment { env[key] = value }
        process.environment = env
        process.standardOutput = FileHandle.nullDevice
        process.standardError = stderr
        try process.run()
        try? stderr.fileHandleForWriting.close()
        if waitForReady { _ = try await notify.next { $0.contains("READY=1") } }
    }

    var pid: Int32 { process.processIdentifier }

    var log: String { logStream.text }

    /// Waits for the process to exit (and its log to be read to the end) and returns its status.
    func exitStatus() async -> Int32 {
        let process = self.process
        let status: Int32 = await onNewThread {
            process.waitUntilExit()
            return process.terminationStatus
        }
        await logStream.waitForEnd()
        return status
    }

    func signal(_ number: Int32) { kill(pid, number) }

    deinit {
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
    }
}
