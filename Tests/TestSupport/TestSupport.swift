import CSpawn
import Foundation

/// The directory holding the built `opsd` and `opsctl` (the test bundle sits beside them).
public let binDirectory: String = {
    if let explicit = ProcessInfo.processInfo.environment["OPS_BIN_DIR"] { return explicit }
    return URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().deletingLastPathComponent().path
}()

public let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path

public struct TestFailure: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// Runs `work`, which blocks (waitpid, poll), on a thread of its own and returns its result.
///
/// Never on Dispatch's global queue: on Linux it runs at most as many blocking items at once as
/// there are cores (two here), so a few long waits of tests running in parallel held up every
/// other test's waits for a minute. Never on Swift's cooperative pool either, for the same reason.
public func onNewThread<T: Sendable>(_ work: @escaping @Sendable () -> T) async -> T {
    await withCheckedContinuation { continuation in
        Thread { continuation.resume(returning: work()) }.start()
    }
}

/// The result of running a command to completion.
public struct CommandResult: Sendable {
    public let status: Int32
    public let stdout: String
    public let stderr: String
}

/// Runs one of the built executables (or any program by absolute path) and collects its output.
///
/// Not Foundation's `Process`: on Linux its exit detection missed the end of a command that leaves
/// a background child behind (`systemd-sandbox up` starts systemd-nspawn), and waited forever.
/// This uses opsd's own spawner and a plain blocking `waitpid`. Output goes to files, not pipes,
/// for the same reason: the background child would hold a pipe open.
public func run(_ program: String, _ arguments: [String], environment: [String: String] = [:]) async throws -> CommandResult {
    let path = program.hasPrefix("/") ? program : "\(binDirectory)/\(program)"
    var env = ProcessInfo.processInfo.environment
    env.removeValue(forKey: "OPS_CONFIG")
    for (key, value) in environment { env[key] = value }
    let base = NSTemporaryDirectory() + "ops-run-\(UUID().uuidString)"
    let out = open(base + ".out", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
    let err = open(base + ".err", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
    let null = open("/dev/null", O_RDONLY | O_CLOEXEC)
    defer {
        [out, err, null].forEach { close($0) }
        unlink(base + ".out")
        unlink(base + ".err")
    }
    let pid = try spawn(path, arguments, environment: env, stdout: out, stderr: err, stdin: null)
    let child = pid
    let status: Int32 = await onNewThread {
        var raw: Int32 = 0
        while waitpid(child, &raw, 0) < 0 && errno == EINTR {}
        let signal = raw & 0x7f
        return signal == 0 ? (raw >> 8) & 0xff : 128 + signal
    }
    return CommandResult(
        status: status,
        stdout: (try? String(contentsOfFile: base + ".out", encoding: .utf8)) ?? "",
        stderr: (try? String(contentsOfFile: base + ".err", encoding: .utf8)) ?? ""
    )
}

/// Starts `path` with opsd's C spawner (own session, no inherited descriptors) and returns its pid;
/// the caller waits for it. `environment` is the complete environment.
public func spawn(
    _ path: String, _ arguments: [String], environment: [String: String], stdout: Int32, stderr: Int32, stdin: Int32,
    deathSignal: Int32 = 0
) throws -> Int32 {
    let argv = ([path] + arguments).map { strdup($0) } + [nil]
    let envp = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
    defer { (argv + envp).forEach { free($0) } }
    var attr = ops_spawn_attr()
    attr.stdin_fd = stdin
    attr.stdout_fd = stdout
    attr.stderr_fd = stderr
    attr.death_signal = deathSignal
    var pid: Int32 = 0
    let error: Int32 = path.withCString { cPath in
        argv.withUnsafeBufferPointer { argvBuffer in
            envp.withUnsafeBufferPointer { envpBuffer in
                attr.path = cPath
                attr.argv = argvBuffer.baseAddress
                attr.envp = envpBuffer.baseAddress
                return ops_spawn(&attr, &pid)
            }
        }
    }
    guard error == 0 else { throw TestFailure("cannot start \(path): \(String(cString: strerror(error)))") }
    return pid
}

/// Binds `fd` to a free port on 127.0.0.1 and returns the port.
public func bindLoopback(_ fd: Int32) throws -> Int {
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let bound = withUnsafeMutablePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0 }
    }
    guard bound else { throw TestFailure("cannot bind a loopback port: \(String(cString: strerror(errno)))") }
    return Int(UInt16(bigEndian: address.sin_port))
}

/// A TCP port on 127.0.0.1 that nothing listens on right now.
public func freePort() throws -> Int {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(fd) }
    return try bindLoopback(fd)
}
