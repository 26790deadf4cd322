import DaemonRuntime
import FoundationEssentials
import Glibc

/// Starts a child process and reports its end: what short-lived commands (check plugins, alert
/// hooks) need, whoever owns the reaping.
///
/// In opsd that is `ChildProcesses`, whose reaper owns `waitpid(-1)`; nothing else may wait there.
/// In `opsctl` and in tests, which share their process with other code that waits for its own
/// children, a reaper of every child would steal their exit statuses: `DirectSpawner` waits for
/// exactly the pid it started.
public protocol ProcessSpawner: Sendable {
    /// Starts `request`; `onExit` is called once when the child ends. The request's names are
    /// looked up where the fork happens, and its output descriptor is closed once the child has
    /// its copy (or the start failed).
    func launch(_ request: SpawnRequest, onExit: @escaping @Sendable (ExitStatus) -> Void) async throws(SpawnError) -> Int32
}

/// Spawns with `ops_spawn` and waits for that one pid on a thread of its own.
///
/// No parent-death signal: it fires when the *thread* that forked exits, and the calling thread
/// here may be one that ends while the child still runs.
public struct DirectSpawner: ProcessSpawner {
    /// Creates a spawner.
    public init() {}

    public func launch(_ request: SpawnRequest, onExit: @escaping @Sendable (ExitStatus) -> Void) async throws(SpawnError) -> Int32 {
        defer { request.closeOutput() }
        let resolved = try request.resolved()
        var pid: Int32 = 0
        let error = request.spawn(resolved, deathSignal: 0, pid: &pid)
        if pid > 0 {
            // A child that failed to exec exits 127; reap it either way. Without a thread to wait
            // for it, the child would be a zombie with nobody told of its end: stop it instead.
            let child = pid
            do {
                try detachThread(named: "opsd-wait-\(child)") {
                var status: Int32 = 0
                while waitpid(child, &status, 0) < 0 {
                    guard errno == EINTR else { return }
                }
                if error == nil { onExit(ExitStatus(waitStatus: status)) }
                }
            } catch let failure {
                kill(child, SIGKILL)
                var status: Int32 = 0
                _ = waitpid(child, &status, 0)
                throw SpawnError(.system(failure.code), executable: request.executable)
            }
        }
        if let error { throw SpawnError(error, executable: request.executable) }
        return pid
    }
}
