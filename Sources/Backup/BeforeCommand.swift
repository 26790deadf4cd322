import Foundation
import Logging
import ProcessControl
import Scheduling
import Synchronization

/// One `backup.before` command: run before the snapshots (an export of state that is not
/// SQLite into a directory under `backup.files`), with the backup's own environment, as a
/// command job without `environment:` is, and no shell unless the command names one.
///
/// Its output goes to a file in the work directory rather than a pipe, so a chatty command can
/// never block on a full pipe; the tail is kept for the log and the failure's reason.
struct BeforeCommand {
    let command: [String]
    let timeout: Duration
    let workDirectory: String

    /// The bytes of output kept for a failure's reason and the log.
    static let tailBytes = 400

    /// The command line as the user wrote it, for messages.
    var display: String { command.map { $0.contains(" ") ? "'\($0)'" : $0 }.joined(separator: " ") }

    /// How long a command stopped at its timeout has between SIGTERM and SIGKILL, as a job's
    /// default `stop.timeout`: time to remove a half-written export.
    static let stopGrace: Duration = .seconds(5)

    /// Runs the command to its end; a non-zero exit, a signal, a timeout or a failed start is
    /// an error of one sentence with the output's tail. Whatever the command started is stopped
    /// with it: it leads a process group of its own, which the timeout and the end both signal.
    func run(logger: Logger) throws(BackupError) {
        guard !command.isEmpty else { throw BackupError("an empty command; give it as a list, e.g. [/usr/bin/duckdb, ...]") }
        let outputPath = "\(workDirectory)/before.output"
        unlink(outputPath)
        let output = open(outputPath, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard output >= 0 else {
            throw BackupError("cannot create \(outputPath) for the command's output: \(String(cString: strerror(errno)))")
        }
        defer { unlink(outputPath) }
        let group = try CommandGroup(command, output: output)
        let status: ExitStatus
        if group.waitForExit(within: timeout) {
            status = group.finish()
        } else {
            group.signal(SIGTERM)
            _ = group.waitForExit(within: Self.stopGrace)
            _ = group.finish()
            throw BackupError("it ran longer than backup.before_timeout (\(timeout.seconds.formatted())s) and was stopped\(tail(outputPath)); raise before_timeout or make it faster")
        }
        let how: String
        switch status {
        case .exited(0): return
        case .exited(let code): how = "exited with status \(code)"
        case .signaled(let signal): how = "was killed by signal \(signal)"
        }
        let tail = tail(outputPath)
        logger.error("backup: a before command failed", metadata: ["command": "\(display)", "status": "\(how)", "output": "\(tail)"])
        throw BackupError("it \(how)\(tail)")
    }

    /// `; its output ended: "…"` with the last bytes, lines joined by " | ", or "" when silent.
    private func tail(_ path: String) -> String {
        guard let bytes = try? FileSystem.readAll(path) else { return "" }
        let text = String(decoding: bytes.suffix(Self.tailBytes), as: UTF8.self)
        let lines = text.split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        return lines.isEmpty ? "" : "; its output ended: \"\(lines.joined(separator: " | "))\""
    }
}

/// A `backup.before` command started as the leader of a process group of its own, so that
/// stopping it stops what it started too (`sh -c 'export & wait'`, whose export would otherwise
/// outlive a timeout, reparented and still writing).
///
/// It starts through ProcessControl's `DirectSpawner`, as a job's command does: a session and
/// process group of its own, signals at their defaults and none blocked (a thread of Swift's pool
/// blocks SIGTERM, and a child would inherit that and never stop), stdin /dev/null, stdout and
/// stderr to `output`, a bare name looked up along PATH, no descriptor of ours beyond those.
/// While it runs, a SIGTERM, SIGINT or SIGHUP that would end this process is passed to the group
/// first: opsd stopping the backup job, or Ctrl-C at `opsctl backup`, signals the job's own
/// process group, which the command is no longer in.
private final class CommandGroup: Sendable {
    let pid: pid_t
    private let exit = Exit()
    /// The signals passed on, and what they did before (restored by ``finish()``).
    private let forwarded: [(Int32, sigaction)]

    /// The signals that end a process by default and that whoever stops a backup sends.
    private static let stopSignals = [SIGTERM, SIGINT, SIGHUP]

    /// Starts `command` with `output` (handed over: closed once the child has its copy) as its
    /// stdout and stderr. Blocks the calling thread (the backup session's own) while the spawn,
    /// which does not wait for anything, runs as a task.
    init(_ command: [String], output: Int32) throws(BackupError) {
        let request = LaunchRecipe(command: command, output: output).request()
        let exit = self.exit
        let started = DispatchSemaphore(value: 0)
        let launched = Mutex<Result<Int32, SpawnError>?>(nil)
        // Passed on from before the start, so that no stop signal falls between the start and the
        // handler; until the pid is known, the handler has no group to pass it to and only ends us.
        pendingStop.store(0, ordering: .sequentiallyConsistent)
        runningGroup.store(startingGroup, ordering: .sequentiallyConsistent)
        forwarded = Self.stopSignals.compactMap(Self.forward)
        Task {
            let result: Result<Int32, SpawnError>
            do throws(SpawnError) {
                result = .success(try await DirectSpawner().launch(request, onExit: exit.fire))
            } catch {
                result = .failure(error)
            }
            launched.withLock { $0 = result }
            started.signal()
        }
        started.wait()
        switch launched.withLock({ $0 }) {
        case .success(let pid):
            self.pid = pid
            runningGroup.store(pid, ordering: .sequentiallyConsistent)
            Self.endIfStopped(group: pid)
        case .failure(let error):
            runningGroup.store(0, ordering: .sequentiallyConsistent)
            Self.endIfStopped(group: nil)
            Self.restore(forwarded)
            throw BackupError("\(error)")
        case nil:
            runningGroup.store(0, ordering: .sequentiallyConsistent)
            Self.endIfStopped(group: nil)
            Self.restore(forwarded)
            throw BackupError("cannot start \(command[0]): the spawn did not report back")
        }
    }

    /// A stop signal that came during the start: passed on to `group` now, and this process ends
    /// with it (its handler has already been reset to the default).
    private static func endIfStopped(group: pid_t?) {
        let signal = pendingStop.load(ordering: .sequentiallyConsistent)
        guard signal != 0 else { return }
        if let group { kill(-group, signal) }
        raise(signal)
    }

    /// True when the leader exited within `limit`.
    func waitForExit(within limit: Duration) -> Bool {
        exit.wait(within: limit)
    }

    /// Sends `signal` to the whole group.
    func signal(_ signal: Int32) {
        kill(-pid, signal)
    }

    /// Kills what is left of the group (the leader too, if it still runs), waits for the leader
    /// and returns how it ended. Leftovers of a command that exited must not run on unattended,
    /// as a command job's are killed at its end.
    func finish() -> ExitStatus {
        kill(-pid, SIGKILL)
        let status = exit.wait()
        runningGroup.store(0, ordering: .sequentiallyConsistent)
        Self.restore(forwarded)
        return status
    }

    /// The leader's end, fired by the spawner's waiting thread and awaited by the backup's own
    /// thread with a time limit (ProcessControl's `ExitLatch` is awaited by a task, without one).
    private final class Exit: Sendable {
        private let status = Mutex<ExitStatus?>(nil)
        private let ended = DispatchSemaphore(value: 0)

        func fire(_ status: ExitStatus) {
            self.status.withLock { $0 = status }
            ended.signal()
        }

        /// True when it ended within `limit`.
        func wait(within limit: Duration) -> Bool {
            guard ended.wait(timeout: .now() + limit.seconds) == .success else { return false }
            ended.signal()  // later waits see the end too
            return true
        }

        /// How it ended, once it has.
        func wait() -> ExitStatus {
            ended.wait()
            ended.signal()
            return status.withLock { $0 } ?? .signaled(SIGKILL)
        }
    }

    /// Installs the handler that passes `signal` on to the running command, when the signal
    /// would end this process (its default action); a signal someone handles or ignores is left
    /// as it is. Returns what to restore.
    private static func forward(_ signal: Int32) -> (Int32, sigaction)? {
        var previous = sigaction()
        guard sigaction(signal, nil, &previous) == 0, previous.__sigaction_handler.sa_handler == nil, previous.sa_flags & Int32(SA_SIGINFO) == 0 else { return nil }
        var action = sigaction()
        action.__sigaction_handler.sa_handler = passStopToCommand
        sigemptyset(&action.sa_mask)
        action.sa_flags = Int32(bitPattern: UInt32(SA_RESETHAND))
        guard sigaction(signal, &action, nil) == 0 else { return nil }
        return (signal, previous)
    }

    private static func restore(_ forwarded: [(Int32, sigaction)]) {
        for (signal, previous) in forwarded {
            var previous = previous
            sigaction(signal, &previous, nil)
        }
    }
}

/// The process group of the `backup.before` command running now; ``startingGroup`` while it is
/// being started (its pid not known yet), 0 when none.
private let runningGroup = Atomic<pid_t>(0)
private let startingGroup: pid_t = -1
/// A stop signal that came while ``runningGroup`` was ``startingGroup``: the starter passes it on.
private let pendingStop = Atomic<Int32>(0)

/// The handler of ``CommandGroup``'s stop signals: passes the signal to the command's group, then
/// ends this process with it as the default action would (SA_RESETHAND has restored that). While
/// the command is being started, it leaves both to the starter (``CommandGroup/endIfStopped()``):
/// noted first and read after, so that one of the two sees the other whatever the order.
/// Runs in a signal handler: only async-signal-safe calls.
private func passStopToCommand(_ signal: Int32) {
    pendingStop.store(signal, ordering: .sequentiallyConsistent)
    let group = runningGroup.load(ordering: .sequentiallyConsistent)
    if group == startingGroup { return }
    if group > 0 { kill(-group, signal) }
    raise(signal)
}
