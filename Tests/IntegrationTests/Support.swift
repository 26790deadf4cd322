import ControlPlane
import Foundation
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
final class NotifyListener: @unchecked Sendable {
    let path: String
    private let descriptor: Int32
    private(set) var received: [String] = []

    init(directory: String) throws {
        path = "\(directory)/notify-\(UUID().uuidString.prefix(8)).sock"
        descriptor = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { buffer in
            for (index, byte) in path.utf8.enumerated() { buffer[index] = byte }
        }
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(descriptor, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard result == 0 else { throw TestFailure("cannot bind \(path): \(String(cString: strerror(errno)))") }
    }

    deinit { close(descriptor) }

    /// Waits for the next message that satisfies `predicate`; fails after `limit` (a safety net, not a synchronisation).
    func next(where predicate: @escaping @Sendable (String) -> Bool, limit: Duration = .seconds(30)) async throws -> String {
        let descriptor = self.descriptor
        let deadline = ContinuousClock.now + limit
        while ContinuousClock.now < deadline {
            let message: String? = await withCheckedContinuation { continuation in
                DispatchQueue.global().async {
                    var poller = pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0)
                    guard poll(&poller, 1, 200) == 1 else { return continuation.resume(returning: nil) }
                    var buffer = [UInt8](repeating: 0, count: 4096)
                    let count = recv(descriptor, &buffer, buffer.count, 0)
                    continuation.resume(returning: count > 0 ? String(decoding: buffer[..<count], as: UTF8.self) : nil)
                }
            }
            if let message {
                received.append(message)
                if predicate(message) { return message }
            }
        }
        throw TestFailure("no matching notify message within \(limit); received: \(received)")
    }
}

/// A running opsd process.
final class Daemon: @unchecked Sendable {
    let process = Process()
    let stderrPath: String
    let notify: NotifyListener

    /// Starts opsd on `config` and waits for READY=1.
    init(config: String, scratch: Scratch, environment: [String: String] = [:], waitForReady: Bool = true) async throws {
        notify = try NotifyListener(directory: scratch.path)
        stderrPath = "\(scratch.path)/opsd-\(UUID().uuidString.prefix(8)).log"
        _ = FileManager.default.createFile(atPath: stderrPath, contents: nil)
        process.executableURL = URL(fileURLWithPath: "\(binDirectory)/opsd")
        process.arguments = ["--config", config]
        var env = ProcessInfo.processInfo.environment
        env["NOTIFY_SOCKET"] = notify.path
        env.removeValue(forKey: "JOURNAL_STREAM")
        env.removeValue(forKey: "OPS_LOG_FORMAT")
        for (key, value) in environment { env[key] = value }
        process.environment = env
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle(forWritingAtPath: stderrPath)
        try process.run()
        if waitForReady { _ = try await notify.next { $0.contains("READY=1") } }
    }

    var pid: Int32 { process.processIdentifier }

    var log: String { (try? String(contentsOfFile: stderrPath, encoding: .utf8)) ?? "" }

    /// Waits for the process to exit and returns its status.
    func exitStatus() async -> Int32 {
        await withCheckedContinuation { continuation in
            DispatchQueue.global().async {
                self.process.waitUntilExit()
                continuation.resume(returning: self.process.terminationStatus)
            }
        }
    }

    func signal(_ number: Int32) { kill(pid, number) }

    deinit {
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
    }
}
