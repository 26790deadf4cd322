import FoundationEssentials
import DaemonRuntime
import Glibc

/// Why a control request failed. Each case reads as one sentence with a remedy.
public enum ControlClientError: Error, CustomStringConvertible, Equatable {
    /// No socket file: opsd is not running (or uses another socket).
    case notRunning(socket: String)
    /// A socket file nobody listens on: left by an opsd that ended.
    case staleSocket(socket: String)
    /// The caller may not connect.
    case permissionDenied(socket: String)
    /// Something other than a socket is at the path.
    case notASocket(path: String)
    /// opsd accepted the connection but did not answer in time.
    case timedOut(socket: String, after: Duration)
    /// The process serving the socket is not opsd's user: the socket may have been replaced.
    case impostor(socket: String, uid: UInt32, expected: UInt32)
    /// The connection failed in another way, or the answer was unreadable.
    case failed(socket: String, reason: String)

    /// One sentence that says what is wrong and what to do.
    public var description: String {
        switch self {
        case .notRunning(let socket):
            "opsd is not running (no control socket at \(socket)); start it with `systemctl start opsd` or `opsd --config FILE`"
        case .staleSocket(let socket):
            "opsd is not running (nothing answers on \(socket), left by an earlier run); start it with `systemctl start opsd` or `opsd --config FILE`"
        case .permissionDenied(let socket):
            "permission denied on \(socket); run opsctl as root or as a member of the socket's group"
        case .notASocket(let path):
            "\(path) is not a socket; check daemon.socket in the config, or pass --socket PATH"
        case .timedOut(let socket, let after):
            "opsd did not answer on \(socket) within \(after); it may be hung: see `journalctl -u opsd`"
        case .impostor(let socket, let uid, let expected):
            "\(socket) is served by uid \(uid), not by opsd's user (uid \(expected), the owner of its directory) or root; "
                + "someone may have replaced the socket: nothing was sent to it, check who can write that directory"
        case .failed(let socket, let reason):
            "the request to opsd on \(socket) failed: \(reason)"
        }
    }
}

/// Sends requests to opsd over its control socket; one connection per request.
///
/// Plain blocking socket I/O on a short-lived thread, not an event loop: opsctl makes one request
/// and exits, and setting up NIO cost about 4 ms of its 9.5 ms `status` (curl: 5.5 ms). The
/// thread keeps the blocking calls off Swift's cooperative pool; SO_SNDTIMEO/SO_RCVTIMEO bound
/// them, so a stuck opsd cannot hold the thread past the timeout.
public struct ControlClient: Sendable {
    /// The socket path.
    public let socketPath: String
    /// How long a request may take, connection included.
    public let timeout: Duration

    /// Creates a client.
    public init(socketPath: String, timeout: Duration = .seconds(30)) {
        self.socketPath = socketPath
        self.timeout = timeout
    }

    /// Sends `request` and returns opsd's response, whatever its status code.
    public func send(_ request: ControlRequest) async throws(ControlClientError) -> ControlResponse {
        let owner = try checkSocket()
        let result: Result<ControlResponse, ControlClientError> = await withCheckedContinuation { continuation in
            do {
                try detachThread(named: "opsd-control") { [self] in continuation.resume(returning: exchange(request, owner: owner)) }
            } catch {
                continuation.resume(returning: .failure(.failed(socket: socketPath, reason: "\(error)")))
            }
        }
        return try result.get()
    }

    /// Sends `request` and hands each piece of a streamed answer to `receive` as it arrives, on
    /// a thread of its own (see `streamBlocking`).
    public func stream(_ request: ControlRequest, receive: @escaping @Sendable ([UInt8]) -> Void) async throws(ControlClientError) -> ControlResponse {
        let result: Result<ControlResponse, ControlClientError> = await withCheckedContinuation { continuation in
            do {
                try detachThread(named: "opsd-control") { [self] in
                    continuation.resume(returning: Result { () throws(ControlClientError) in try streamBlocking(request, receive: receive) })
                }
            } catch {
                continuation.resume(returning: .failure(.failed(socket: socketPath, reason: "\(error)")))
            }
        }
        return try result.get()
    }

    /// `send`, blocking the calling thread: for code that runs on a thread of its own (a restore).
    public func sendBlocking(_ request: ControlRequest) throws(ControlClientError) -> ControlResponse {
        let owner = try checkSocket()
        return try exchange(request, owner: owner).get()
    }

    /// Checks that a socket is at the path; returns the owner of its directory, opsd's user.
    ///
    /// opsd only serves from a directory that no one but root and its user can write, and such a
    /// directory belongs to one of them; so a server of another uid is not opsd (see
    /// ``verifyServer(_:owner:)``). One stat(2) more per request: nothing measurable.
    private func checkSocket() throws(ControlClientError) -> uid_t {
        var info = stat()
        if lstat(socketPath, &info) != 0 {
            throw errno == EACCES ? .permissionDenied(socket: socketPath) : .notRunning(socket: socketPath)
        }
        guard info.st_mode & S_IFMT == S_IFSOCK else { throw .notASocket(path: socketPath) }
        let directory = socketPath.lastIndex(of: "/").map { socketPath[..<$0].isEmpty ? "/" : String(socketPath[..<$0]) } ?? "."
        var parent = stat()
        return stat(directory, &parent) == 0 ? parent.st_uid : info.st_uid
    }

    /// Refuses a server whose uid (`SO_PEERCRED`, recorded by the kernel when it called listen(2))
    /// is neither root nor `owner`: someone who could write the socket's directory may have moved
    /// opsd's socket away and bound their own, to read what opsctl sends or answer in opsd's name.
    private func verifyServer(_ descriptor: Int32, owner: uid_t) -> ControlClientError? {
        var credentials = PeerPolicy.Credentials()
        var length = socklen_t(MemoryLayout<PeerPolicy.Credentials>.size)
        guard getsockopt(descriptor, SOL_SOCKET, SO_PEERCRED, &credentials, &length) == 0 else {
            return .failed(socket: socketPath, reason: "cannot tell who serves the socket: \(String(cString: strerror(errno)))")
        }
        guard credentials.uid == 0 || credentials.uid == owner else {
            return .impostor(socket: socketPath, uid: credentials.uid, expected: owner)
        }
        return nil
    }

    /// Connects, checks who serves the socket, writes the request, reads the response to the end.
    private func exchange(_ request: ControlRequest, owner: uid_t) -> Result<ControlResponse, ControlClientError> {
        let descriptor: Int32
        let writeError: Int32?
        switch connectAndSend(request, owner: owner) {
        case .success(let opened): (descriptor, writeError) = opened
        case .failure(let error): return .failure(error)
        }
        defer { close(descriptor) }
        var received: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        // Until the end of the body by Content-Length, or the end of the stream.
        while !Self.isComplete(received) {
            let count = read(descriptor, &buffer, buffer.count)
            if count < 0 && errno == EINTR { continue }
            if count < 0 {
                if let writeError { return .failure(failure(writeError)) }
                return .failure(failure(errno))
            }
            if count == 0 { break }
            received += buffer[..<count]
        }
        if let writeError, Self.parse(received) == nil { return .failure(failure(writeError)) }
        return Self.parse(received).map { .success($0) } ?? .failure(.failed(socket: socketPath, reason: "opsd sent an answer that is not HTTP"))
    }

    /// Sends `request` and hands each piece of a streamed (chunked) answer to `receive` as it
    /// arrives, blocking the calling thread: for an answer that lasts as long as a job run. The
    /// returned response has the status and, when the answer was not streamed (an error), its body.
    public func streamBlocking(_ request: ControlRequest, receive: ([UInt8]) -> Void) throws(ControlClientError) -> ControlResponse {
        let owner = try checkSocket()
        let (descriptor, writeError) = try connectAndSend(request, owner: owner).get()
        defer { close(descriptor) }
        var received: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        var chunks: ChunkedBody?
        var head: ControlResponse?
        while true {
            let count = read(descriptor, &buffer, buffer.count)
            if count < 0 && errno == EINTR { continue }
            if count < 0 { throw failure(writeError ?? errno) }
            if count == 0 { break }
            if var decoder = chunks {
                let (pieces, ended) = decoder.feed(buffer[..<count])
                chunks = decoder
                for piece in pieces { receive(piece) }
                if ended { break }
                continue
            }
            received += buffer[..<count]
            guard let headerEnd = received.firstRange(of: [13, 10, 13, 10]) else { continue }
            let headText = String(decoding: received[..<headerEnd.lowerBound], as: UTF8.self).lowercased()
            guard headText.contains("transfer-encoding: chunked") else {
                if Self.isComplete(received) { break } else { continue }
            }
            head = Self.parse(Array(received[..<headerEnd.upperBound]))
            var decoder = ChunkedBody()
            let (pieces, ended) = decoder.feed(received[headerEnd.upperBound...])
            chunks = decoder
            for piece in pieces { receive(piece) }
            if ended { break }
        }
        if let head { return head }
        guard let response = Self.parse(received) else {
            throw writeError.map(failure) ?? .failed(socket: socketPath, reason: "opsd sent an answer that is not HTTP")
        }
        return response
    }

    /// Connects, checks who serves the socket and writes the request; returns the connected
    /// descriptor (the caller closes it) and the error of a write that met a closed socket.
    private func connectAndSend(_ request: ControlRequest, owner: uid_t) -> Result<(Int32, Int32?), ControlClientError> {
        let descriptor = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard descriptor >= 0 else { return .failure(.failed(socket: socketPath, reason: String(cString: strerror(errno)))) }
        var keep = false
        defer { if !keep { close(descriptor) } }
        var limit = timeval(tv_sec: Int(timeout.components.seconds), tv_usec: Int(timeout.components.attoseconds / 1_000_000_000_000))
        setsockopt(descriptor, SOL_SOCKET, SO_RCVTIMEO, &limit, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(descriptor, SOL_SOCKET, SO_SNDTIMEO, &limit, socklen_t(MemoryLayout<timeval>.size))

        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let pathBytes = Array(socketPath.utf8)
        guard pathBytes.count < MemoryLayout.size(ofValue: address.sun_path) else {
            return .failure(.failed(socket: socketPath, reason: "the socket path is longer than 107 bytes"))
        }
        withUnsafeMutableBytes(of: &address.sun_path) { buffer in
            for (index, byte) in pathBytes.enumerated() { buffer[index] = byte }
        }
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard connected == 0 else {
            switch errno {
            case ECONNREFUSED: return .failure(.staleSocket(socket: socketPath))
            case EACCES, EPERM: return .failure(.permissionDenied(socket: socketPath))
            case ENOENT: return .failure(.notRunning(socket: socketPath))
            default: return .failure(.failed(socket: socketPath, reason: String(cString: strerror(errno))))
            }
        }
        if let impostor = verifyServer(descriptor, owner: owner) { return .failure(impostor) }

        let uri = request.path + Self.queryString(request.query)
        var message = Array("\(request.method) \(uri) HTTP/1.1\r\nHost: opsd\r\nContent-Type: application/json\r\nContent-Length: \(request.body.count)\r\nConnection: close\r\n\r\n".utf8)
        message += request.body
        // MSG_NOSIGNAL: opsd answers a connection it will not serve (403, 503) without reading
        // the request and closes it, so this write may meet a closed socket; the answer is
        // already queued for reading, and SIGPIPE would end opsctl before it is read.
        var sent = 0
        var writeError: Int32?
        while sent < message.count {
            let count = message[sent...].withUnsafeBytes { Glibc.send(descriptor, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if count < 0 && errno == EINTR { continue }
            guard count > 0 else {
                writeError = errno
                break
            }
            sent += count
        }
        if let writeError, writeError != EPIPE, writeError != ECONNRESET { return .failure(failure(writeError)) }
        keep = true
        return .success((descriptor, writeError))
    }

    private func failure(_ code: Int32) -> ControlClientError {
        code == EAGAIN || code == EWOULDBLOCK
            ? .timedOut(socket: socketPath, after: timeout)
            : .failed(socket: socketPath, reason: String(cString: strerror(code)))
    }

    /// True once the head and a Content-Length's worth of body have arrived.
    static func isComplete(_ bytes: [UInt8]) -> Bool {
        guard let headerEnd = bytes.firstRange(of: [13, 10, 13, 10]),
              let length = contentLength(String(decoding: bytes[..<headerEnd.lowerBound], as: UTF8.self).lowercased()) else { return false }
        return bytes.count - headerEnd.upperBound >= length
    }

    private static func contentLength(_ head: String) -> Int? {
        for line in head.components(separatedBy: "\r\n") where line.hasPrefix("content-length:") {
            return Int(line.dropFirst("content-length:".count).filter { $0 != " " && $0 != "\t" })
        }
        return nil
    }

    /// `HTTP/1.1 200 OK\r\n…\r\n\r\nbody`: the status code and the body (Content-Length bytes, or the rest).
    static func parse(_ bytes: [UInt8]) -> ControlResponse? {
        let separator: [UInt8] = [13, 10, 13, 10]
        guard let headerEnd = bytes.firstRange(of: separator) else { return nil }
        let head = String(decoding: bytes[..<headerEnd.lowerBound], as: UTF8.self)
        let lines = head.components(separatedBy: "\r\n")
        let statusLine = lines[0].split(separator: " ")
        guard statusLine.count >= 2, statusLine[0].hasPrefix("HTTP/1."), let status = Int(statusLine[1]) else { return nil }
        var body = Array(bytes[headerEnd.upperBound...])
        for line in lines.dropFirst() where line.lowercased().hasPrefix("content-length:") {
            if let length = Int(line.dropFirst("content-length:".count).filter { $0 != " " && $0 != "\t" }), length <= body.count {
                body = Array(body[..<length])
            }
        }
        return ControlResponse(status: status, body: body)
    }

    static func queryString(_ query: [String: String]) -> String {
        guard !query.isEmpty else { return "" }
        var components = URLComponents()
        components.queryItems = query.sorted { $0.key < $1.key }.map { URLQueryItem(name: $0.key, value: $0.value) }
        return "?" + (components.percentEncodedQuery ?? "")
    }
}

/// Takes apart an HTTP/1.1 chunked body as its bytes arrive: `size CRLF data CRLF`, ended by a
/// chunk of size 0.
struct ChunkedBody {
    private var pending: [UInt8] = []
    /// Data bytes still due in the current chunk, then its CRLF.
    private var remaining = 0
    private var inData = false

    /// The data that `bytes` completes, in order, and whether the last chunk has arrived.
    mutating func feed(_ bytes: some Collection<UInt8>) -> (pieces: [[UInt8]], ended: Bool) {
        pending += bytes
        var pieces: [[UInt8]] = []
        while true {
            if inData {
                guard pending.count >= remaining + 2 else {
                    // Hand over what data there is now, keeping the chunk's end for later.
                    let ready = min(pending.count, remaining)
                    if ready > 0 {
                        pieces.append(Array(pending[..<ready]))
                        pending.removeFirst(ready)
                        remaining -= ready
                    }
                    return (pieces, false)
                }
                if remaining > 0 { pieces.append(Array(pending[..<remaining])) }
                pending.removeFirst(remaining + 2)
                inData = false
                continue
            }
            guard let lineEnd = pending.firstRange(of: [13, 10]) else { return (pieces, false) }
            // A size, perhaps with extensions after a semicolon.
            let sizeText = String(decoding: pending[..<lineEnd.lowerBound], as: UTF8.self).split(separator: ";").first ?? ""
            guard let size = Int(sizeText.filter { $0 != " " && $0 != "\t" }, radix: 16) else { return (pieces, true) }
            pending.removeFirst(lineEnd.upperBound)
            if size == 0 { return (pieces, true) }
            remaining = size
            inData = true
        }
    }
}
