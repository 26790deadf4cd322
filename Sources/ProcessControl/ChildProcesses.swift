import CSpawn
import FoundationEssentials
public import DaemonRuntime
import Dispatch
import Glibc
import Synchronization

/// What to start: a program, its arguments and its surroundings.
public struct SpawnRequest: Sendable {
    /// The executable's path (resolve PATH lookups before, with `ChildProcesses.resolve`).
    public var executable: String
    /// The full argv, including argv[0].
    public var arguments: [String]
    /// The complete environment.
    public var environment: [String: String]
    /// The working directory, if not opsd's.
    public var workingDirectory: String?
    /// User and group to switch to, if any.
    public var credentials: (uid: UInt32, gid: UInt32)?
    /// The file mode creation mask, if set.
    public var umask: UInt32?
    /// Where the child's stdout and stderr go (the caller keeps ownership); nil means /dev/null.
    public var output: Int32?

    /// Creates a request.
    public init(
        executable: String, arguments: [String], environment: [String: String], workingDirectory: String? = nil,
        credentials: (uid: UInt32, gid: UInt32)? = nil, umask: UInt32? = nil, output: Int32? = nil
    ) {
        self.executable = executable
        self.arguments = arguments
        self.environment = environment
        self.workingDirectory = workingDirectory
        self.credentials = credentials
        self.umask = umask
        self.output = output
    }
}

extension SpawnRequest {
    /// opsd's environment minus what belongs to opsd alone: its systemd notify socket, watchdog,
    /// socket activation and journal stream, and the variables its configuration reads secrets
    /// from (`withholdFromChildren`). A child that inherited NOTIFY_SOCKET could tell systemd that
    /// *opsd* is ready or stopping; one that inherited a check's `{env: API_TOKEN}` would hold a
    /// secret it was never given.
    public static func inheritedEnvironment() -> [String: String] {
        inheritedEnvironment(from: ProcessInfo.processInfo.environment)
    }

    /// `environment` minus opsd's own variables and the withheld names: the rule of
    /// ``inheritedEnvironment()``, applied to an environment other than this process's own.
    static func inheritedEnvironment(from environment: [String: String]) -> [String: String] {
        var environment = environment
        for key in ["NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID", "LISTEN_FDS", "LISTEN_PID", "LISTEN_FDNAMES", "JOURNAL_STREAM", "INVOCATION_ID"] {
            environment.removeValue(forKey: key)
        }
        for key in withheld.withLock({ $0 }) { environment.removeValue(forKey: key) }
        return environment
    }

    /// Keeps these variables of opsd's environment from every child it starts from now on: the
    /// names the configuration takes secrets from. Set at start and on each reload.
    public static func withholdFromChildren(_ names: Set<String>) {
        withheld.withLock { $0 = names }
    }

    private static let withheld = Mutex<Set<String>>([])

    /// Gives every child started from now on this soft limit of open descriptors: the one opsd
    /// started with, before it raised its own (`DescriptorLimit`). Programs that use select(2)
    /// cannot handle descriptors above 1024, so a raised limit is opsd's alone.
    public static func limitChildDescriptors(to softLimit: UInt) {
        childDescriptorLimit.withLock { $0 = softLimit }
    }

    static let childDescriptorLimit = Mutex<UInt?>(nil)
}

/// Why a child could not be started; one sentence with the cause.
public struct SpawnError: Error, CustomStringConvertible, Sendable {
    /// The errno value from fork, chdir, setuid or execve.
    public let code: Int32
    /// What was being started.
    public let executable: String

    /// `cannot start /srv/app/run: No such file or directory`
    public var description: String { "cannot start \(executable): \(String(cString: strerror(code)))" }
}

/// The one owner of opsd's child processes: it starts them and reaps every one of them.
///
/// Two threads, each blocked in the kernel when there is nothing to do (no timers, no polling):
/// - the spawner forks. A child's parent-death signal fires when the *thread* that forked it
///   exits, so forking must happen on a thread that lives as long as opsd, never on a pool thread;
/// - the reaper waits in `waitpid(-1)`. It reaps every child, including orphans re-parented to
///   opsd (a child subreaper), so no zombie can pile up. Nothing else in opsd may wait for
///   children, or it would steal their exit statuses.
public final class ChildProcesses: Sendable {
    private struct Pending: Sendable {
        let request: SpawnRequest
        let deathSignal: Int32
        let onExit: @Sendable (ExitStatus) -> Void
        let reply: @Sendable (Result<Int32, SpawnError>) -> Void
    }

    private let queue = Mutex<[Pending]>([])
    private let work = DispatchSemaphore(value: 0)
    /// Exit handlers by pid; a pid is registered under this lock in the same step as the fork, so
    /// the reaper can never see an exit before its handler exists.
    private let handlers = Mutex<[Int32: @Sendable (ExitStatus) -> Void]>([:])
    private let childrenMayExist = DispatchSemaphore(value: 0)

    /// Starts the spawner and reaper threads and makes opsd a child subreaper; throws when the
    /// system refuses the threads.
    public init() throws(ThreadError) {
        _ = ops_set_child_subreaper()
        try detachThread(named: "opsd-spawner") { [self] in spawnLoop() }
        try detachThread(named: "opsd-reaper") { [self] in reapLoop() }
    }

    /// Starts a child; `onExit` is called once, on the reaper thread, when it ends.
    ///
    /// With `deathSignal` (e.g. SIGKILL) the kernel signals the child if opsd dies, even by SIGKILL.
    public func spawn(
        _ request: SpawnRequest, deathSignal: Int32 = 9, onExit: @escaping @Sendable (ExitStatus) -> Void
    ) async throws(SpawnError) -> Int32 {
        let result: Result<Int32, SpawnError> = await withCheckedContinuation { continuation in
            queue.withLock { $0.append(Pending(request: request, deathSignal: deathSignal, onExit: onExit) { continuation.resume(returning: $0) }) }
            work.signal()
        }
        return try result.get()
    }

    /// Returns after a round trip through the spawner thread: proof for the watchdog that it is not stuck.
    public func ping() async {
        let request = SpawnRequest(executable: "", arguments: [], environment: [:])
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            queue.withLock { $0.append(Pending(request: request, deathSignal: 0, onExit: { _ in }) { _ in continuation.resume() }) }
            work.signal()
        }
    }

    /// The uid and gid for `user` (its primary group) and `group`; nil when either does not exist.
    /// Without either, opsd's own ids.
    public static func credentials(user: String?, group: String?) -> (uid: UInt32, gid: UInt32)? {
        var uid = getuid(), gid = getgid()
        if let user {
            guard let entry = getpwnam(user) else { return nil }
            uid = entry.pointee.pw_uid
            gid = entry.pointee.pw_gid
        }
        if let group {
            guard let entry = getgrnam(group) else { return nil }
            gid = entry.pointee.gr_gid
        }
        return (uid, gid)
    }

    /// The path of `program`: as given when it contains a slash, else found along `searchPath`.
    public static func resolve(_ program: String, searchPath: String?) -> String? {
        if program.contains("/") { return access(program, X_OK) == 0 ? program : nil }
        for directory in (searchPath ?? "/usr/local/bin:/usr/bin:/bin").split(separator: ":") {
            let candidate = "\(directory)/\(program)"
            if access(candidate, X_OK) == 0 { return candidate }
        }
        return nil
    }

    // MARK: Threads

    private func spawnLoop() {
        while true {
            work.wait()
            guard let next = queue.withLock({ $0.isEmpty ? nil : $0.removeFirst() }) else { continue }
            if next.request.executable.isEmpty {
                next.reply(.failure(SpawnError(code: 0, executable: "")))
                continue
            }
            next.reply(fork(next))
        }
    }

    private func fork(_ pending: Pending) -> Result<Int32, SpawnError> {
        let request = pending.request
        var pid: Int32 = 0
        var error: Int32 = 0
        let onExit = pending.onExit
        let ignore: @Sendable (ExitStatus) -> Void = { _ in }
        handlers.withLock { (table: inout [Int32: @Sendable (ExitStatus) -> Void]) in
            error = request.spawn(deathSignal: pending.deathSignal, pid: &pid)
            // A child that failed to exec still exits (127) and is reaped; its status is dropped.
            if pid > 0 { table[pid] = error == 0 ? onExit : ignore }
        }
        if pid > 0 { childrenMayExist.signal() }
        return error == 0 ? .success(pid) : .failure(SpawnError(code: error, executable: request.executable))
    }

    private func reapLoop() {
        while true {
            var status: Int32 = 0
            let pid = waitpid(-1, &status, 0)
            if pid > 0 {
                // No handler: an orphan re-parented to opsd, reaped and nothing more.
                let handler = handlers.withLock { $0.removeValue(forKey: pid) }
                handler?(ExitStatus(waitStatus: status))
            } else if errno == ECHILD {
                childrenMayExist.wait()
            }
        }
    }
}

extension ChildProcesses: ProcessSpawner {
    /// Starts a child through the spawner thread, with SIGKILL as its parent-death signal.
    public func launch(_ request: SpawnRequest, onExit: @escaping @Sendable (ExitStatus) -> Void) async throws(SpawnError) -> Int32 {
        try await spawn(request, deathSignal: SIGKILL, onExit: onExit)
    }
}
