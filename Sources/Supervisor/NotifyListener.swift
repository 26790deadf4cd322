import CSpawn
import DaemonRuntime
import FoundationEssentials
import Glibc

/// Receives workers' sd_notify messages (READY=1, STATUS=…, WATCHDOG=1) on one datagram socket.
///
/// Every worker gets this socket as its NOTIFY_SOCKET. A message counts only for the worker whose
/// process group its sender belongs to (the sender's pid comes from SCM_CREDENTIALS, which the
/// kernel fills in and a process cannot forge), so one worker cannot speak for another, and a
/// stranger that finds the socket speaks for nobody. This is how systemd attributes messages too.
final class NotifyListener: Sendable {
    /// The socket path to hand to workers.
    let path: String

    /// Binds the socket and starts the receiving thread; `deliver` gets (process group, fields).
    init(path: String, deliver: @escaping @Sendable (Int32, [String: String]) -> Void) throws(NotifyListenerError) {
        let descriptor = ops_notify_socket(path)
        guard descriptor >= 0 else { throw NotifyListenerError(path: path, code: -descriptor) }
        self.path = path
        do throws(ThreadError) {
            try detachThread(named: "opsd-notify") { Self.receive(descriptor, deliver) }
        } catch {
            close(descriptor)
            throw NotifyListenerError(path: path, code: error.code)
        }
    }

    /// The receiving thread's loop.
    private static func receive(_ descriptor: Int32, _ deliver: @Sendable (Int32, [String: String]) -> Void) -> Never {
        var buffer = [CChar](repeating: 0, count: 4096)
        while true {
            var sender: pid_t = 0
            let count = ops_notify_receive(descriptor, &buffer, Int32(buffer.count), &sender)
            guard count >= 0 else { continue }
            // Read the group now: the sender may exit right after sending.
            let group = sender > 0 ? getpgid(sender) : -1
            guard group > 0 else { continue }
            let text = String(decoding: buffer.prefix(Int(count)).map { UInt8(bitPattern: $0) }, as: UTF8.self)
            deliver(group, Self.fields(text))
        }
    }

    /// `READY=1\nSTATUS=x` → ["READY": "1", "STATUS": "x"].
    static func fields(_ text: String) -> [String: String] {
        var fields: [String: String] = [:]
        for line in text.split(separator: "\n") {
            guard let equals = line.firstIndex(of: "=") else { continue }
            fields[String(line[..<equals])] = String(line[line.index(after: equals)...])
        }
        return fields
    }
}

/// The notify socket could not be created.
struct NotifyListenerError: Error, CustomStringConvertible {
    let path: String
    let code: Int32
    var description: String { "cannot create the workers' notify socket \(path): \(String(cString: strerror(code)))" }
}
