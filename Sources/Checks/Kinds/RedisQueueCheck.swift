import FoundationEssentials
import Glibc
import OpsConfig

/// The backlog of a Redis list (Celery and RQ keep their queues as lists): `LLEN key`.
///
/// A few lines of RESP over a plain socket rather than a Redis client library: the check sends
/// two commands, and every dependency costs the daemon memory. Loopback TCP and unix sockets only;
/// the config refuses a password, so there is no AUTH.
public struct RedisQueueCheck: Check {
    /// Where Redis listens.
    public enum Address: Sendable, Equatable {
        /// `redis://host:port/db`.
        case tcp(host: String, port: Int, database: Int)
        /// `unix:///path/to/redis.sock`.
        case unix(path: String)
    }

    /// The server.
    public let address: Address
    /// The list's key.
    public let key: String

    /// Creates the check from the config's URL; throws a `CheckFailure` for a URL it cannot read.
    public init(url: String, key: String) throws {
        self.address = try Self.parse(url)
        self.key = key
    }

    static func parse(_ url: String) throws -> Address {
        if url.hasPrefix("unix://") { return .unix(path: String(url.dropFirst("unix://".count))) }
        guard let components = URLComponents(string: url), components.scheme == "redis", let host = components.host, !host.isEmpty else {
            throw CheckFailure("\(url) is not a redis://host:port/db address")
        }
        let database = Int(components.path.drop { $0 == "/" }) ?? 0
        return .tcp(host: host, port: components.port ?? 6379, database: database)
    }

    public func observe(deadline: ContinuousClock.Instant) async throws -> Observation {
        let address = self.address, key = self.key
        let length = try await blocking { () throws -> Int64 in
            let connection = try RESPConnection(address, deadline: deadline)
            if case .tcp(_, _, let database) = address, database != 0 {
                _ = try connection.command(["SELECT", String(database)])
            }
            return try connection.integer(["LLEN", key])
        }
        let count = Double(length)
        return Observation(
            value: count, unit: CheckKindDescriptor.queue.unit, summary: "\(length) \(length == 1 ? "item" : "items") waiting in \(key)",
            metrics: [PerfDatum(label: "backlog", value: count, min: 0)]
        )
    }
}

/// One blocking RESP2 connection with send and receive timeouts taken from the deadline.
final class RESPConnection {
    private let socket: Int32
    private var buffer: [UInt8] = []

    init(_ address: RedisQueueCheck.Address, deadline: ContinuousClock.Instant) throws {
        let description: String
        var storage = sockaddr_storage()
        var length: socklen_t
        switch address {
        case .unix(let path):
            description = path
            var unixAddress = sockaddr_un()
            unixAddress.sun_family = sa_family_t(AF_UNIX)
            guard path.utf8.count < MemoryLayout.size(ofValue: unixAddress.sun_path) else { throw CheckFailure("the socket path \(path) is too long") }
            withUnsafeMutableBytes(of: &unixAddress.sun_path) { raw in
                for (index, byte) in path.utf8.enumerated() { raw[index] = byte }
            }
            withUnsafeBytes(of: unixAddress) { source in withUnsafeMutableBytes(of: &storage) { $0.copyMemory(from: source) } }
            length = socklen_t(MemoryLayout<sockaddr_un>.size)
        case .tcp(let host, let port, _):
            description = "\(host):\(port)"
            var hints = addrinfo()
            hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
            var result: UnsafeMutablePointer<addrinfo>?
            let status = getaddrinfo(host, String(port), &hints, &result)
            guard status == 0, let first = result else { throw CheckFailure("cannot resolve \(host): \(String(cString: gai_strerror(status)))") }
            defer { freeaddrinfo(result) }
            length = first.pointee.ai_addrlen
            withUnsafeMutableBytes(of: &storage) { $0.copyMemory(from: UnsafeRawBufferPointer(start: first.pointee.ai_addr, count: Int(length))) }
        }
        socket = Glibc.socket(Int32(storage.ss_family), Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard socket >= 0 else { throw CheckFailure("cannot create a socket: \(String(cString: strerror(errno)))") }
        let remaining = max(deadline - ContinuousClock.now, .milliseconds(1))
        var timeout = timeval(tv_sec: Int(remaining.components.seconds), tv_usec: Int(remaining.components.attoseconds / 1_000_000_000_000))
        setsockopt(socket, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(socket, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        let connected = withUnsafePointer(to: &storage) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(socket, $0, length) } }
        guard connected == 0 else {
            let reason = String(cString: strerror(errno))
            close(socket)
            throw CheckFailure("cannot connect to Redis at \(description): \(reason)")
        }
    }

    deinit { close(socket) }

    /// Sends a command and returns the reply line (`:12`, `+OK`); a `-ERR` reply throws.
    func command(_ words: [String]) throws -> String {
        var request = "*\(words.count)\r\n"
        for word in words { request += "$\(word.utf8.count)\r\n\(word)\r\n" }
        let bytes = Array(request.utf8)
        var sent = 0
        while sent < bytes.count {
            let count = bytes[sent...].withUnsafeBytes { send(socket, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            guard count > 0 else { throw CheckFailure("Redis connection failed while sending: \(String(cString: strerror(errno)))") }
            sent += count
        }
        let line = try readLine()
        if line.hasPrefix("-") { throw CheckFailure("Redis answered \(words[0]) with: \(line.dropFirst())") }
        return line
    }

    /// Sends a command whose reply is an integer.
    func integer(_ words: [String]) throws -> Int64 {
        let line = try command(words)
        guard line.hasPrefix(":"), let value = Int64(line.dropFirst()) else {
            throw CheckFailure("Redis answered \(words[0]) with \(line.prefix(40)), not a number")
        }
        return value
    }

    private func readLine() throws -> String {
        while true {
            if let end = buffer.firstIndex(of: UInt8(ascii: "\n")) {
                let line = buffer[..<end].last == UInt8(ascii: "\r") ? buffer[..<(end - 1)] : buffer[..<end]
                defer { buffer.removeFirst(end + 1) }
                return String(decoding: line, as: UTF8.self)
            }
            var chunk = [UInt8](repeating: 0, count: 512)
            let count = recv(socket, &chunk, chunk.count, 0)
            guard count > 0 else {
                throw CheckFailure(count == 0 ? "Redis closed the connection without answering" : "no answer from Redis: \(String(cString: strerror(errno)))")
            }
            buffer += chunk[..<count]
            guard buffer.count < 65536 else { throw CheckFailure("Redis sent an answer line longer than 64 KiB") }
        }
    }
}
