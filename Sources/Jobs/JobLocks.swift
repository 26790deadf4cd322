import DaemonRuntime
import FoundationEssentials
import Glibc
import Logging
import OpsConfig
import Synchronization

/// The `lock:` names of jobs: two runs holding the same name never overlap, whether opsd's
/// scheduler started them, `opsctl jobs run` asked opsd, or opsctl runs the job in its own
/// process while opsd is down.
///
/// Two layers, so that neither waiting costs a thread nor another process is forgotten: within
/// a process, runs queue on this actor in the order they asked (no thread, no wakeup); the one
/// at the head then takes an exclusive `flock` on `STATE_DIR/locks/NAME.lock`, which another
/// process (an opsctl run in-process, a second opsd on the same state directory) holds while it
/// runs. The kernel drops a flock when its holder dies, so a crash never leaves a lock behind.
/// The holder writes who it is into the file, for the late one to name.
actor JobLocks {
    /// A lock held by a run; give it back with ``release(_:)``.
    struct Hold: Sendable {
        let lock: String
        let descriptor: Int32
    }

    /// How an acquire ended.
    enum Acquired: Sendable {
        /// The run may go on; it must release the hold when it ends.
        case held(Hold)
        /// `on_lock: skip` and the lock is taken; `holder` names who has it ("job nightly").
        case busy(holder: String)
    }

    private struct Waiter {
        let id: UInt64
        let job: String
        let continuation: CheckedContinuation<Bool, Never>
    }

    private let store: JobRunStore
    /// Lock name → the job holding it in this process.
    private var holders: [String: String] = [:]
    private var queues: [String: [Waiter]] = [:]
    private var nextID: UInt64 = 0

    /// Locks whose files live beside `store`'s database (in memory only when it has no file).
    init(store: JobRunStore) {
        self.store = store
    }

    /// Takes `lock` for a run of `job`, waiting for it or not as `policy` says, and logging to
    /// `logger` whom it waits for. Throws `CancellationError` when the waiting task is cancelled
    /// (opsd stopping), and `JobFailure` when the lock file cannot be opened.
    func acquire(_ lock: String, job: String, policy: LockPolicy, logger: Logger) async throws -> Acquired {
        if let holder = holders[lock] {
            if policy == .skip { return .busy(holder: "job \(holder)") }
            logger.notice("waiting for lock \(lock), held by job \(holder)", metadata: ["lock": "\(lock)", "holder": "\(holder)"])
            guard await queue(lock, job: job) else { throw CancellationError() }
        } else {
            holders[lock] = job
        }
        // In this process the lock is ours from here on; now the other processes.
        let opened: Int32?
        do { opened = try await openFile(lock) } catch {
            release(inProcess: lock)
            throw error
        }
        guard let descriptor = opened else { return .held(Hold(lock: lock, descriptor: -1)) }
        if flock(descriptor, LOCK_EX | LOCK_NB) != 0 {
            let holder = Self.holder(in: descriptor) ?? "another process"
            if policy == .skip {
                close(descriptor)
                release(inProcess: lock)
                return .busy(holder: holder)
            }
            logger.notice("waiting for lock \(lock), held by \(holder)", metadata: ["lock": "\(lock)", "holder": "\(holder)"])
            let taken: Bool
            do { taken = try await FileLockWait.wait(descriptor) } catch {
                close(descriptor)
                release(inProcess: lock)
                throw JobFailure("cannot wait for lock \(lock): \(error)")
            }
            guard taken else {
                release(inProcess: lock)
                throw CancellationError()
            }
        }
        let text = "job \(job) (pid \(getpid()))"
        _ = ftruncate(descriptor, 0)
        _ = text.withCString { pwrite(descriptor, $0, strlen($0), 0) }
        return .held(Hold(lock: lock, descriptor: descriptor))
    }

    /// Gives `hold` back: the file lock first, then the next run of this process waiting for it.
    func release(_ hold: Hold) {
        if hold.descriptor >= 0 { close(hold.descriptor) }
        release(inProcess: hold.lock)
    }

    // MARK: In this process

    /// Waits in line for `lock`; true once it is this run's, false when the task was cancelled.
    private func queue(_ lock: String, job: String) async -> Bool {
        nextID += 1
        let id = nextID
        let granted = await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                queues[lock, default: []].append(Waiter(id: id, job: job, continuation: continuation))
            }
        } onCancel: {
            Task { await self.abandon(lock, id: id) }
        }
        if granted, Task.isCancelled {
            release(inProcess: lock)
            return false
        }
        return granted
    }

    private func abandon(_ lock: String, id: UInt64) {
        guard let index = queues[lock]?.firstIndex(where: { $0.id == id }), let waiter = queues[lock]?.remove(at: index) else { return }
        waiter.continuation.resume(returning: false)
    }

    /// Hands `lock` to the first run waiting for it, in the order they asked.
    private func release(inProcess lock: String) {
        guard var waiting = queues[lock], !waiting.isEmpty else {
            holders[lock] = nil
            queues[lock] = nil
            return
        }
        let next = waiting.removeFirst()
        queues[lock] = waiting
        holders[lock] = next.job
        next.continuation.resume(returning: true)
    }

    // MARK: Across processes

    private var directoryKnown = false
    private var directory: String?

    /// `STATE_DIR/locks/NAME.lock`, created (0640, in a 0750 directory) when missing; nil for a
    /// state database without a file (in memory), whose locks hold in this process only.
    private func openFile(_ lock: String) async throws -> Int32? {
        if !directoryKnown {
            directory = (try? await store.stateDirectory())?.map { $0 + "/locks" }
            directoryKnown = true
        }
        guard let directory else { return nil }
        if mkdir(directory, 0o750) != 0, errno != EEXIST {
            throw JobFailure("cannot create the lock directory \(directory): \(String(cString: strerror(errno))); it must be writable by whoever runs the job (opsd's user)")
        }
        let path = "\(directory)/\(lock).lock"
        let descriptor = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0o640)
        guard descriptor >= 0 else {
            throw JobFailure("cannot open the lock file \(path): \(String(cString: strerror(errno))); it must be writable by whoever runs the job (opsd's user)")
        }
        return descriptor
    }

    /// What the holder of the file lock wrote into it.
    private static func holder(in descriptor: Int32) -> String? {
        var buffer = [UInt8](repeating: 0, count: 256)
        let count = buffer.withUnsafeMutableBytes { pread(descriptor, $0.baseAddress, $0.count, 0) }
        guard count > 0 else { return nil }
        let text = String(decoding: buffer.prefix(count).filter { $0 != 0 && $0 != UInt8(ascii: "\n") }, as: UTF8.self)
        return text.isEmpty ? nil : text
    }
}

/// A blocking `flock` on a thread of its own, which a cancelled task leaves behind: the thread
/// takes the lock whenever the other process lets go and then closes the file, dropping it.
private final class FileLockWait: Sendable {
    private enum State {
        case idle
        case waiting(CheckedContinuation<Bool, any Error>)
        case abandoned
        case done
    }

    private let state = Mutex<State>(.idle)

    /// True once the lock on `descriptor` is taken; false when the task was cancelled first, and
    /// then the descriptor is closed here (at once, or by the thread once it has the lock).
    static func wait(_ descriptor: Int32) async throws -> Bool {
        let wait = FileLockWait()
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Bool, any Error>) in
                let cancelled = wait.state.withLock { state in
                    guard case .idle = state else { return true }
                    state = .waiting(continuation)
                    return false
                }
                if cancelled {
                    close(descriptor)
                    continuation.resume(returning: false)
                    return
                }
                do {
                    try detachThread(named: "opsd-job-lock") {
                        while flock(descriptor, LOCK_EX) != 0, errno == EINTR {}
                        wait.finish(descriptor)
                    }
                } catch {
                    wait.state.withLock { $0 = .done }
                    continuation.resume(throwing: error)
                }
            }
        } onCancel: {
            wait.abandon()
        }
    }

    private func finish(_ descriptor: Int32) {
        let waiting: CheckedContinuation<Bool, any Error>? = state.withLock { state in
            defer { state = .done }
            guard case .waiting(let continuation) = state else { return nil }
            return continuation
        }
        if let waiting { waiting.resume(returning: true) } else { close(descriptor) }
    }

    private func abandon() {
        let waiting: CheckedContinuation<Bool, any Error>? = state.withLock { state in
            switch state {
            case .idle:
                state = .abandoned
                return nil
            case .waiting(let continuation):
                state = .abandoned
                return continuation
            case .abandoned, .done:
                return nil
            }
        }
        waiting?.resume(returning: false)
    }
}
