import CSpawn
import FoundationEssentials
import Glibc
public import OpsConfig
public import ProcessControl
import Synchronization
public import DaemonRuntime
import Scheduling

/// A command on a schedule: started through opsd's spawner (so the reaper owns its exit), its
/// output in the journal under the job's name, its whole process group stopped on timeout.
public struct CommandJob: JobWork {
    let spec: CommandSpec
    let children: any ProcessSpawner
    let output: @Sendable (String, OutputRing?) -> Int32?
    let stop: StopPolicy

    /// A job running `spec` through `children`; `output` gives the descriptor for stdout and
    /// stderr (handed over to the spawner, which closes it; nil: /dev/null), e.g.
    /// `ChildOutput.descriptor(for:)`.
    /// On timeout or shutdown the group gets `stop.signal`, then SIGKILL after `stop.timeout`.
    public init(
        spec: CommandSpec, children: any ProcessSpawner, output: @escaping @Sendable (String) -> Int32?, stop: StopPolicy = JobSpec.defaultStop
    ) {
        self.init(spec: spec, children: children, keepingOutput: { name, _ in output(name) }, stop: stop)
    }

    /// A job as above whose `output` also gets the run's `JobContext.output` ring, to keep the
    /// tail of the output there (`ChildOutput.descriptor(for:keeping:)`).
    public init(
        spec: CommandSpec, children: any ProcessSpawner, keepingOutput output: @escaping @Sendable (String, OutputRing?) -> Int32?,
        stop: StopPolicy = JobSpec.defaultStop
    ) {
        self.spec = spec
        self.children = children
        self.output = output
        self.stop = stop
    }

    public func run(_ context: JobContext) async throws -> String {
        let status = try await runToExit(context)
        guard status == .exited(0) else { throw JobFailure("\(spec.command[0]) ended with \(status)", exit: status) }
        return "\(spec.command[0]) exited 0"
    }

    /// Runs the command once and returns how it ended; throws when it cannot start, and
    /// `JobStopped` when the run is cancelled (after its process group is gone).
    func runToExit(_ context: JobContext) async throws -> ExitStatus {
        var environment = spec.environment
        environment["OPS_JOB"] = context.job
        environment["OPS_ATTEMPT"] = "\(context.attempt)"
        let recipe = LaunchRecipe(
            command: spec.command, environment: environment, workingDirectory: spec.workingDirectory,
            user: spec.user, group: spec.group, output: output(context.job, context.output))
        let exit = ExitLatch()
        // A program or user that is not found fails the attempt with the spawn's own sentence.
        let pid = try await children.launch(recipe.request(), onExit: { exit.fire($0) })
        let stop = self.stop
        let status = await withTaskCancellationHandler {
            await exit.wait()
        } onCancel: {
            // The child leads its own process group (setsid), so this reaches its children too.
            kill(-pid, stop.signal.number)
            Task {
                try? await Task.sleep(for: stop.timeout, clock: .loop)
                if !exit.hasFired { kill(-pid, SIGKILL) }
            }
        }
        // Leftovers in the group (a background grandchild) must not outlive the run.
        kill(-pid, SIGKILL)
        if let ring = context.output { await Self.drain(ring) }
        if Task.isCancelled { throw JobStopped(program: spec.command[0], status: status, stop: stop) }
        return status
    }

    /// Waits until the run's last output is in its tail: the exit is seen before the relay reads
    /// the pipe to its end. A grandchild that left the group may hold the pipe open for ever, so
    /// the wait is bounded.
    private static func drain(_ ring: OutputRing) async {
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await ring.drained() }
            group.addTask { try? await Task.sleep(for: .seconds(2), clock: .loop) }
            await group.next()
            group.cancelAll()
        }
    }
}

/// A command job's run cut short (opsd stopping, or the job's timeout), and how its process took it.
struct JobStopped: Error, CustomStringConvertible {
    let program: String
    let status: ExitStatus
    let stop: StopPolicy

    var description: String {
        let signal = "SIG" + stop.signal.rawValue, grace = DurationText.format(stop.timeout)
        if status == .signaled(SIGKILL), stop.signal != .kill {
            return "\(program) did not end within its stop timeout of \(grace) after \(signal) and was killed"
        }
        return "\(program) ended with \(status) after \(signal), within its stop timeout of \(grace)"
    }
}
