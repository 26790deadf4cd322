import Foundation

/// Client sockets a test holds open against a server (floods, half-sent requests), closed when
/// it is released.
public final class HeldConnections: @unchecked Sendable {
    public private(set) var descriptors: [Int32] = []

    public init() {}

    deinit { descriptors.forEach { close($0) } }

    public func connectUnix(_ path: String) throws {
        let fd = Self.boundedSocket(AF_UNIX)
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { buffer in
            for (index, byte) in path.utf8.enumerated() { buffer[index] = byte }
        }
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        try keep(fd, connected: result == 0, what: path)
    }

    public func connectLoopback(_ port: Int) throws {
        let fd = Self.boundedSocket(AF_INET)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        try keep(fd, connected: result == 0, what: "127.0.0.1:\(port)")
    }

    private func keep(_ fd: Int32, connected: Bool, what: String) throws {
        guard fd >= 0, connected else {
            let reason = String(cString: strerror(errno))
            if fd >= 0 { close(fd) }
            throw TestFailure("cannot connect to \(what) (connection \(descriptors.count + 1)): \(reason)")
        }
        descriptors.append(fd)
    }

    /// A stream socket whose connect and writes give up after 10 s (SO_SNDTIMEO bounds both): a
    /// server that stopped accepting fails the test instead of hanging it.
    private static func boundedSocket(_ family: Int32) -> Int32 {
        let fd = socket(family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        var limit = timeval(tv_sec: 10, tv_usec: 0)
        if fd >= 0 { setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &limit, socklen_t(MemoryLayout<timeval>.size)) }
        return fd
    }

    /// Closes every connection now.
    public func closeAll() {
        descriptors.forEach { close($0) }
        descriptors = []
    }

    /// Writes `text` to every connection.
    public func send(_ text: String) {
        let bytes = Array(text.utf8)
        for fd in descriptors { _ = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) } }
    }

    /// How many connections the server has refused already (answered with an HTTP 503 at accept),
    /// without waiting. A connection closed silently by the request timeout is not counted, so a
    /// slow machine that took longer than the timeout to open them all does not look like refusal.
    public func refusedNow() -> Int {
        var fds = descriptors.map { pollfd(fd: $0, events: Int16(POLLIN), revents: 0) }
        _ = poll(&fds, nfds_t(fds.count), 0)
        var buffer = [UInt8](repeating: 0, count: 64)
        return fds.filter { entry in
            guard entry.revents != 0 else { return false }
            let count = recv(entry.fd, &buffer, buffer.count, Int32(MSG_PEEK | MSG_DONTWAIT))
            return count > 0 && String(decoding: buffer[..<count], as: UTF8.self).hasPrefix("HTTP/1.1 503")
        }.count
    }

    /// Reads every connection to its end of file (whatever the server sends first is drained);
    /// returns how many are still open when `limit` has passed. The waiting is poll(2) on all of
    /// them, on a thread of its own: the closes are awaited, not slept for.
    public func awaitEndOfFile(limit: Duration) async -> Int {
        let all = descriptors
        return await onNewThread {
                var open = Set(all)
                let deadline = ContinuousClock.now + limit
                var buffer = [UInt8](repeating: 0, count: 4096)
                while !open.isEmpty, ContinuousClock.now < deadline {
                    var fds = open.map { pollfd(fd: $0, events: Int16(POLLIN), revents: 0) }
                    let left = deadline - ContinuousClock.now
                    let milliseconds = Int32(max(1, left.components.seconds * 1000 + left.components.attoseconds / 1_000_000_000_000_000))
                    guard poll(&fds, nfds_t(fds.count), milliseconds) > 0 else { continue }
                    for entry in fds where entry.revents != 0 {
                        let count = recv(entry.fd, &buffer, buffer.count, Int32(MSG_DONTWAIT))
                        if count == 0 || (count < 0 && errno != EAGAIN && errno != EINTR) { open.remove(entry.fd) }
                    }
                }
                return open.count
        }
    }
}

