import DaemonRuntime
import FoundationEssentials
import Glibc
public import ProcessControl
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

    private let spawner: any ProcessSpawner

    /// Creates a runner that spawns through `spawner`.
    public init(spawner: any ProcessSpawner) {
        self.spawner = spawner
    }

    /// Runs `arguments` (argv[0] resolved along PATH) with `environment` added to opsd's own.
    /// Cancelling the calling task kills the command's process group.
    public func run(_ arguments: [String], environment: [String: String] = [:]) async throws -> Outcome {
        let inherited = ProcessInfo.processInfo.environment
        guard let program = arguments.first, let executable = ChildProcesses.resolve(program, searchPath: inherited["PATH"]) else {
            throw CheckFailure("cannot run \(arguments.first ?? "an empty command"): no such executable file")
        }
        var pipeEnds: [Int32] = [-1, -1]
        // Close-on-exec right after creation; a fork in between cannot leak them either, because
        // ops_spawn closes every descriptor from 3 up in the child.
        guard pipe(&pipeEnds) == 0 else { throw CheckFailure("cannot create a pipe: \(String(cString: strerror(errno)))") }
        let (readEnd, writeEnd) = (pipeEnds[0], pipeEnds[1])
        _ = fcntl(readEnd, F_SETFD, FD_CLOEXEC)
        _ = fcntl(writeEnd, F_SETFD, FD_CLOEXEC)
        let request = SpawnRequest(
            executable: executable, arguments: arguments, environment: inherited.merging(environment) { $1 }, output: writeEnd
        )
        let exit = ExitLatch()
        let pid: Int32
        do {
            pid = try await spawner.launch(request, onExit: { exit.fire($0) })
        } catch {
            close(readEnd)
            close(writeEnd)
            throw CheckFailure("\(error)")
        }
        close(writeEnd)
        let output: OutputReader
        do { output = try OutputReader(descriptor: readEnd) } catch {
            kill(-pid, SIGKILL)
            close(readEnd)
            throw CheckFailure("\(error)")
        }
        return await withTaskCancellationHandler {
            let status = await exit.wait()
            // Whatever the plugin left running in its group would hold the pipe open.
            kill(-pid, SIGKILL)
            return Outcome(status: status, output: await output.text())
        } onCancel: {
            kill(-pid, SIGKILL)
        }
    }
}

/// Drains a pipe on a thread of its own until end of file, keeping the first `outputLimit` bytes.
private final class OutputReader: Sendable {
    private let result = Mutex<(text: String?, waiter: CheckedContinuation<String, Never>?)>((nil, nil))

    init(descriptor: Int32) throws(ThreadError) {
        try detachThread(named: "opsd-plugin-out") { [self] in
            var kept: [UInt8] = []
            var chunk = [UInt8](repeating: 0, count: 4096)
            while true {
                let count = read(descriptor, &chunk, chunk.count)
                if count < 0, errno == EINTR { continue }
                guard count > 0 else { break }
                if kept.count < CommandRunner.outputLimit { kept += chunk[..<min(count, CommandRunner.outputLimit - kept.count)] }
            }
            close(descriptor)
            let text = String(decoding: kept, as: UTF8.self)
            let waiter = result.withLock { state -> CheckedContinuation<String, Never>? in
                state.text = text
                defer { state.waiter = nil }
                return state.waiter
            }
            waiter?.resume(returning: text)
        }
    }

    func text() async -> String {
        await withCheckedContinuation { continuation in
            let ready = result.withLock { state -> String? in
                if let text = state.text { return text }
                state.waiter = continuation
                return nil
            }
            if let ready { continuation.resume(returning: ready) }
        }
    }
}
