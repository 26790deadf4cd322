import Foundation
import Logging
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
        let group: CommandGroup
        do { group = try CommandGroup(command, output: output) } catch {
            close(output)
            throw error
        }
        close(output)
        let status: Int32
        if group.waitForExit(within: timeout) {
            status = group.finish()
        } else {
            group.signal(SIGTERM)
            _ = group.waitForExit(within: Self.stopGrace)
            _ = group.finish()
            throw BackupError("it ran longer than backup.before_timeout (\(timeout.seconds.formatted())s) and was stopped\(tail(outputPath)); raise before_timeout or make it faster")
        }
        // A waitpid status word (the W* macros are not imported into Swift).
        let signal = status & 0x7f
        guard signal != 0 || (status >> 8) & 0xff != 0 else { return }
        let how = signal == 0 ? "exited with status \((status >> 8) & 0xff)" : "was killed by signal \(signal)"
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
/// It starts as a job's command does: signals at their defaults and none blocked (a thread of
/// Swift's pool blocks SIGTERM, and a child would inherit that and never stop), stdin
/// /dev/null, stdout and stderr to `output`, a bare name looked up along PATH, no descriptor of
/// ours beyond those. While it runs, a SIGTERM, SIGINT or SIGHUP that would end this process is
/// passed to the group first: opsd stopping the backup job, or Ctrl-C at `opsctl backup`,
/// signals the job's own process group, which the command is no longer in.
private final class CommandGroup: Sendable {
    let pid: pid_t
    private let exited = DispatchSemaphore(value: 0)
    /// The signals passed on, and what they did before (restored by ``finish()``).
    private let forwarded: [(Int32, sigaction)]

    /// The signals that end a process by default and that whoever stops a backup sends.
    private static let stopSignals = [SIGTERM, SIGINT, SIGHUP]

    init(_ command: [String], output: Int32) throws(BackupError) {
        var attributes = posix_spawnattr_t()
        var actions = posix_spawn_file_actions_t()
        posix_spawnattr_init(&attributes)
        posix_spawn_file_actions_init(&actions)
        defer {
            posix_spawnattr_destroy(&attributes)
            posix_spawn_file_actions_destroy(&actions)
        }
        var none = sigset_t()
        var all = sigset_t()
        sigemptyset(&none)
        sigfillset(&all)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
        posix_spawnattr_setpgroup(&attributes, 0)
        posix_spawnattr_setsigmask(&attributes, &none)
        posix_spawnattr_setsigdefault(&attributes, &all)
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_adddup2(&actions, output, 1)
        posix_spawn_file_actions_adddup2(&actions, output, 2)
        // No descriptor of ours reaches the command (Swift's Glibc lacks addclosefrom_np); one
        // closed by another thread meanwhile is no error to posix_spawn.
        for descriptor in Self.openDescriptors() where descriptor > 2 {
            posix_spawn_file_actions_addclose(&actions, descriptor)
        }
        let arguments = command.map { strdup($0) } + [nil]
        defer { for argument in arguments { free(argument) } }
        var pid: pid_t = 0
        // Passed on from before the start, so that no stop signal falls between the start and the
        // handler; until the pid is known, the handler has no group to pass it to and only ends us.
        forwarded = Self.stopSignals.compactMap(Self.forward)
        let code = posix_spawnp(&pid, command[0], &actions, &attributes, arguments, environ)
        guard code == 0 else {
            Self.restore(forwarded)
            throw BackupError("cannot start it: \(String(cString: strerror(code))); check the path and that it is executable")
        }
        self.pid = pid
        runningGroup.store(pid, ordering: .sequentiallyConsistent)
        // waitid with WNOWAIT leaves the exited leader unreaped: its pid, which is the group's id,
        // cannot be reused until ``finish()`` has signalled the group for the last time.
        let exited = self.exited
        let leader = pid
        Thread.detachNewThread {
            var info = siginfo_t()
            while waitid(P_PID, id_t(leader), &info, WEXITED | WNOWAIT) != 0, errno == EINTR {}
            exited.signal()
        }
    }

    /// True when the leader exited within `limit`.
    func waitForExit(within limit: Duration) -> Bool {
        guard exited.wait(timeout: .now() + limit.seconds) == .success else { return false }
        exited.signal()  // later waits see the exit too
        return true
    }

    /// Sends `signal` to the whole group.
    func signal(_ signal: Int32) {
        kill(-pid, signal)
    }

    /// Kills what is left of the group (the leader too, if it still runs), reaps the leader and
    /// returns its wait status. Leftovers of a command that exited must not run on unattended,
    /// as a command job's are killed at its end.
    func finish() -> Int32 {
        kill(-pid, SIGKILL)
        exited.wait()
        runningGroup.store(0, ordering: .sequentiallyConsistent)
        Self.restore(forwarded)
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0, errno == EINTR {}
        return status
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

    /// This process's open descriptors, from /proc/self/fd.
    private static func openDescriptors() -> [Int32] {
        ((try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd")) ?? []).compactMap { Int32($0) }
    }

    private static func restore(_ forwarded: [(Int32, sigaction)]) {
        for (signal, previous) in forwarded {
            var previous = previous
            sigaction(signal, &previous, nil)
        }
    }
}

/// The process group of the `backup.before` command running now; 0 when none.
private let runningGroup = Atomic<pid_t>(0)

/// The handler of ``CommandGroup``'s stop signals: passes the signal to the command's group, then
/// ends this process with it as the default action would (SA_RESETHAND has restored that).
/// Runs in a signal handler: only async-signal-safe calls.
private func passStopToCommand(_ signal: Int32) {
    let group = runningGroup.load(ordering: .sequentiallyConsistent)
    if group > 0 { kill(-group, signal) }
    raise(signal)
}
