import DaemonRuntime
import FoundationEssentials
import Glibc
import Synchronization

/// Runs a short-lived command (a plugin, an alert hook) to completion and collects its output.
///
/// It spawns through a `ProcessSpawner`: in opsd `ChildProcesses`, whose reaper owns
/// `waitpid(-1)`; in opsctl a `DirectSpawner`. Nothing here waits for children itself. The
/// command leads its own process group, so a timeout or a cancelled task ends the whole group,
/// including anything the plugin started.
public struct CommandRunner: Sendable {
    /// What a finished command left behind.
    public struct Outcome: Sendable {
        /// How it ended.
        public var status: ExitStatus
        /// stdout and stderr, interleaved, at most `outputLimit` bytes.
        public var output: String
    }

    /// Output beyond this is read and dropped, so a chatty plugin cannot fill opsd's memory.
    static let outputLimit = 64 * 1024
    /// How long the output is still read after the command has exited and its process group was
    /// killed. What they wrote is in the pipe by then; only a process that left the group
    /// (`setsid`) can still hold the pipe open, and it may do so for ever, so after this the
    /// pipe is closed and its reading thread ends.
    static let outputGrace: Duration = .milliseconds(100)

    private let spawner: any ProcessSpawner

    /// Creates a runner that spawns through `spawner`.
    public init(spawner: any ProcessSpawner) {
        self.spawner = spawner
    }

    /// The most a command can be given on stdin: what a pipe holds without a reader, so the
    /// input is written whole before the command starts and nobody waits for it to read.
    public static let inputLimit = 64 * 1024

    /// Runs `arguments` (argv[0] resolved along the child's PATH) with `environment` added to
    /// what opsd passes on of its own: the rules of `LaunchRecipe`, which every child of opsd
    /// follows. `input` (at most ``inputLimit`` bytes) is the command's stdin; without it stdin
    /// is /dev/null. `workingDirectory` is the command's (nil: opsd's). Cancelling the calling
    /// task kills the command's process group.
    public func run(
        _ arguments: [String], environment: [String: String] = [:], workingDirectory: String? = nil, input: [UInt8]? = nil
    ) async throws -> Outcome {
        let stdin = try input.map(Self.inputPipe)
        var pipeEnds: [Int32] = [-1, -1]
        // Close-on-exec right after creation; a fork in between cannot leak them either, because
        // ops_spawn closes every descriptor from 3 up in the child.
        guard pipe(&pipeEnds) == 0 else {
            if let stdin { close(stdin) }
            throw CommandFailure("cannot create a pipe: \(String(cString: strerror(errno)))")
        }
        let (readEnd, writeEnd) = (pipeEnds[0], pipeEnds[1])
        _ = fcntl(readEnd, F_SETFD, FD_CLOEXEC)
        _ = fcntl(writeEnd, F_SETFD, FD_CLOEXEC)
        // The spawner takes the write end and closes it once the child has its copy.
        let request = LaunchRecipe(command: arguments, environment: environment, workingDirectory: workingDirectory, output: writeEnd, input: stdin).request()
        let exit = ExitLatch()
        let pid: Int32
        do {
            pid = try await spawner.launch(request, onExit: { exit.fire($0) })
        } catch {
            close(readEnd)
            throw CommandFailure("\(error)")
        }
        let output: OutputReader
        do { output = try OutputReader(descriptor: readEnd) } catch {
            kill(-pid, SIGKILL)
            close(readEnd)
            throw error
        }
        return await withTaskCancellationHandler {
            let status = await exit.wait()
            // Whatever the plugin left running in its group would hold the pipe open.
            kill(-pid, SIGKILL)
            return Outcome(status: status, output: await output.text(within: Self.outputGrace))
        } onCancel: {
            kill(-pid, SIGKILL)
        }
    }

    /// The read end of a pipe that already holds `input` and whose write end is closed: the
    /// command reads it to its end without anyone feeding it.
    private static func inputPipe(_ input: [UInt8]) throws(CommandFailure) -> Int32 {
        guard input.count <= inputLimit else {
            throw CommandFailure("the input is \(input.count) bytes, more than the \(inputLimit) a command can be given on stdin")
        }
        var ends: [Int32] = [-1, -1]
        guard pipe(&ends) == 0 else { throw CommandFailure("cannot create a pipe: \(String(cString: strerror(errno)))") }
        for end in ends { _ = fcntl(end, F_SETFD, FD_CLOEXEC) }
        _ = fcntl(ends[1], F_SETFL, fcntl(ends[1], F_GETFL) | O_NONBLOCK)
        var written = 0
        while written < input.count {
            let count = input[written...].withUnsafeBytes { write(ends[1], $0.baseAddress, $0.count) }
            if count < 0, errno == EINTR { continue }
            guard count > 0 else {
                let reason = String(cString: strerror(errno))
                close(ends[0])
                close(ends[1])
                throw CommandFailure("cannot write the command's input: \(reason)")
            }
            written += count
        }
        close(ends[1])
        return ends[0]
    }
}

/// Why a command could not be run at all (no pipe, no process): one sentence.
public struct CommandFailure: Error, CustomStringConvertible, Sendable {
    /// One sentence: what failed.
    public let description: String

    /// Creates a failure.
    public init(_ description: String) {
        self.description = description
    }
}

/// Drains a pipe on a thread of its own until end of file or until told to stop, keeping the
/// first `outputLimit` bytes. Told to stop, it reads what the pipe holds and closes it: a
/// process that escaped the command's group may keep the write end open for ever, and must not
/// keep a thread and a descriptor of opsd's with it.
private final class OutputReader: Sendable {
    private struct State {
        var text: String?
        var waiter: CheckedContinuation<String, Never>?
        /// The write end of the stop pipe, -1 once the thread has finished (and closed it).
        var stopWriter: Int32
    }
    private let state: Mutex<State>

    init(descriptor: Int32) throws(CommandFailure) {
        var stopEnds: [Int32] = [-1, -1]
        guard pipe(&stopEnds) == 0 else { throw CommandFailure("cannot create a pipe: \(String(cString: strerror(errno)))") }
        // Close-on-exec at once; a spawn in between cannot leak them (ops_spawn closes every
        // descriptor from 3 up in the child).
        for end in stopEnds { _ = fcntl(end, F_SETFD, FD_CLOEXEC) }
        let stopReader = stopEnds[0]
        state = Mutex(State(stopWriter: stopEnds[1]))
        _ = fcntl(descriptor, F_SETFL, fcntl(descriptor, F_GETFL) | O_NONBLOCK)
        do {
            try detachThread(named: "opsd-plugin-out") { [self] in
                let text = Self.drain(descriptor, until: stopReader)
                close(descriptor)
                close(stopReader)
                let waiter = state.withLock { state -> CheckedContinuation<String, Never>? in
                    state.text = text
                    close(state.stopWriter)
                    state.stopWriter = -1
                    defer { state.waiter = nil }
                    return state.waiter
                }
                waiter?.resume(returning: text)
            }
        } catch {
            close(stopReader)
            close(stopEnds[1])
            throw CommandFailure("\(error)")
        }
    }

    /// Reads `descriptor` (non-blocking) until end of file, or until `stop` becomes readable and
    /// the pipe holds nothing more.
    private static func drain(_ descriptor: Int32, until stop: Int32) -> String {
        var kept: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        var stopping = false
        while true {
            let count = read(descriptor, &chunk, chunk.count)
            if count > 0 {
                if kept.count < CommandRunner.outputLimit { kept += chunk[..<min(count, CommandRunner.outputLimit - kept.count)] }
                continue
            }
            if count == 0 || (errno != EAGAIN && errno != EINTR) || stopping { break }
            if errno == EINTR { continue }
            var events = [pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0), pollfd(fd: stop, events: Int16(POLLIN), revents: 0)]
            guard poll(&events, 2, -1) >= 0 || errno == EINTR else { break }
            // Told to stop: one more read takes what is already in the pipe, then it ends.
            if events[1].revents != 0 { stopping = true }
        }
        return String(decoding: kept, as: UTF8.self)
    }

    /// Makes the reading thread finish with what the pipe holds now.
    func stop() {
        state.withLock { state in
            guard state.stopWriter >= 0 else { return }
            var byte: UInt8 = 1
            _ = write(state.stopWriter, &byte, 1)
        }
    }

    /// The output, once the pipe reaches its end or, at the latest, `grace` from now.
    func text(within grace: Duration) async -> String {
        let timer = Task { [self] in
            if (try? await Task.sleep(for: grace, clock: .loop)) != nil { stop() }
        }
        defer { timer.cancel() }
        return await text()
    }

    func text() async -> String {
        await withCheckedContinuation { continuation in
            let ready = state.withLock { state -> String? in
                if let text = state.text { return text }
                state.waiter = continuation
                return nil
            }
            if let ready { continuation.resume(returning: ready) }
        }
    }
}
