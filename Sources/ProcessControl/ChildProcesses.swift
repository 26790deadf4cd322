import CSpawn
import FoundationEssentials
public import DaemonRuntime
import Dispatch
import Glibc
import Synchronization

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
        /// nil for a `ping`.
        let request: SpawnRequest?
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
    /// The request's program and user and group names are looked up on the spawner thread, right
    /// before the fork, and its output descriptor is closed there once the child has its copy.
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
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            queue.withLock { $0.append(Pending(request: nil, deathSignal: 0, onExit: { _ in }) { _ in continuation.resume() }) }
            work.signal()
        }
    }

    // MARK: Threads

    private func spawnLoop() {
        while true {
            work.wait()
            guard let next = queue.withLock({ $0.isEmpty ? nil : $0.removeFirst() }) else { continue }
            guard let request = next.request else {
                next.reply(.success(0))
                continue
            }
            let result: Result<Int32, SpawnError>
            // Here, not in the caller: a user lookup may wait on NSS, and callers run on event loops.
            do { result = fork(next, request, try request.resolved()) } catch { result = .failure(error) }
            request.closeOutput()
            next.reply(result)
        }
    }

    private func fork(_ pending: Pending, _ request: SpawnRequest, _ resolved: ResolvedSpawn) -> Result<Int32, SpawnError> {
        var pid: Int32 = 0
        var error: SpawnError.Reason?
        let onExit = pending.onExit
        let ignore: @Sendable (ExitStatus) -> Void = { _ in }
        handlers.withLock { (table: inout [Int32: @Sendable (ExitStatus) -> Void]) in
            error = request.spawn(resolved, deathSignal: pending.deathSignal, pid: &pid)
            // A child that failed to exec still exits (127) and is reaped; its status is dropped.
            if pid > 0 { table[pid] = error == nil ? onExit : ignore }
        }
        if pid > 0 { childrenMayExist.signal() }
        return error.map { .failure(SpawnError($0, executable: request.executable)) } ?? .success(pid)
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
