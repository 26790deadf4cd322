import CSystemd
import FoundationEssentials
public import DaemonRuntime
import Dispatch
import Glibc
import Synchronization

/// Keeps systemd's STATUS= line current as workers change, without ever blocking the caller.
///
/// `sd_notify` sends with a blocking `sendmsg`: when the receiver stops reading (a stuck PID 1; a
/// test's notify socket nobody drains) the sender blocks. Sending from the supervisor actor once
/// deadlocked a 200-crash test. So callers only record the newest line here, and one thread of
/// its own sends it: if that thread is blocked, later lines replace the pending one (only the
/// newest matters) and nothing else waits.
public final class StatusPublisher: Sendable {
    private struct Pending {
        var workers = ""
        var context: [String] = []
        var dirty = false
        var silenced = false
    }

    private let pending = Mutex(Pending())
    /// Held by the sending thread for the whole of one send, so `silence()` can wait one out.
    private let sending = Mutex(())
    private let wake = DispatchSemaphore(value: 0)
    private let enabled: Bool

    /// A publisher for `notifier`'s socket; does nothing (and starts no thread) outside systemd.
    /// Throws when the system refuses its thread.
    public init(notifier: SystemdNotifier) throws(ThreadError) {
        enabled = notifier.isEnabled
        guard enabled else { return }
        try detachThread(named: "opsd-status") { [self] in sendLoop() }
    }

    /// The line as systemd shows it: `Running: 2/3 workers running, 4 checks, backup configured`.
    public static func compose(workers: String, context: [String]) -> String {
        "Running: " + ([workers] + context).joined(separator: ", ")
    }

    /// The workers' part changed (the supervisor calls this on every change; cheap, never blocks).
    public func setWorkers(_ text: String) {
        update { $0.workers = text }
    }

    /// The rest of the line (checks, backup, reload problems) changed: at start and after a reload.
    public func setContext(_ parts: [String]) {
        update { $0.context = parts }
    }

    /// No more lines: opsd is stopping and has said so (STOPPING=1 with its own status).
    /// Returns once no line can follow: a send already under way has finished.
    public func silence() {
        pending.withLock { $0.silenced = true }
        sending.withLock { _ in }
    }

    private func update(_ change: (inout Pending) -> Void) {
        guard enabled else { return }
        let signal = pending.withLock { state -> Bool in
            guard !state.silenced else { return false }
            let before = (state.workers, state.context)
            change(&state)
            guard (state.workers, state.context) != before, !state.workers.isEmpty else { return false }
            defer { state.dirty = true }
            return !state.dirty
        }
        if signal { wake.signal() }
    }

    private func sendLoop() {
        while true {
            wake.wait()
            sending.withLock { _ in
                let line = pending.withLock { state -> String? in
                    guard state.dirty, !state.silenced else { return nil }
                    state.dirty = false
                    return Self.compose(workers: state.workers, context: state.context)
                }
                if let line { _ = sd_notify(0, "STATUS=\(SystemdNotifier.oneLine(line))") }
            }
        }
    }
}
