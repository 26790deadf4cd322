import ArgumentParser
import ControlPlane
import OpsAPI
import Scheduling

struct Workers: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Start, stop or restart one worker.",
        discussion: Workers.discussion,
        subcommands: [Start.self, Stop.self, Restart.self]
    )

    /// Shown by `opsctl workers --help` and by each action's `--help`: what is waited for, and the exit codes.
    static let discussion = """
        `start` also revives a worker that is fatal (it kept crashing) and forgets its crash history. \
        `stop` keeps the worker down until `start`, a reload that changes it, or a restart of opsd. \
        Each waits for the outcome and prints it: `start` and `restart` until the worker is running (after \
        READY=1 with `notify: true`; without it, once it has stayed up for 1s, so one that exits at once is \
        caught), at most `--timeout`; `stop` until the worker has ended (SIGKILL after its stop timeout).

        Exit status: 0 when the worker reached the state (running, or stopped); 1 when it did not, with the \
        reason on stderr (exec failed: no such file or directory; exited at start with status N; start \
        timeout; still starting when the timeout ended), for an unknown worker, or a failed request; 3 when \
        opsd is not running; 64 for a usage error.
        """

    struct Start: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Start a worker that is down (stopped, exited or fatal).", discussion: Workers.discussion)
        @OptionGroup var options: WorkerOptions
        func run() async throws { try await options.perform("start") }
    }

    struct Stop: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Stop a worker: its stop signal to the process group, SIGKILL after the stop timeout.", discussion: Workers.discussion)
        @OptionGroup var options: WorkerOptions
        func run() async throws { try await options.perform("stop") }
    }

    struct Restart: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Stop a worker, then start it again.", discussion: Workers.discussion)
        @OptionGroup var options: WorkerOptions
        func run() async throws { try await options.perform("restart") }
    }
}

struct WorkerOptions: ParsableArguments {
    @Argument(help: ArgumentHelp("The worker's name, as in the configuration (see `opsctl status`).", valueName: "name"))
    var name: String

    @OptionGroup var connection: ConnectionOptions

    @Flag(help: "Print the worker's status afterwards as JSON.")
    var json = false

    @Option(
        help: ArgumentHelp("How long `start` and `restart` wait for the worker to be running, in the config's duration form (30s, 2m; default: 30s).", valueName: "duration"),
        transform: WorkerOptions.duration
    )
    var timeout: Duration = .seconds(30)

    func perform(_ action: String) async throws {
        try await reportingFailures {
            let path = "/v1/workers/\(name)/\(action)"
            let wait = String(Double(timeout.components.seconds) + Double(timeout.components.attoseconds) / 1e18)
            let request = ControlRequest(method: "POST", path: path, query: ["wait": wait])
            // The stop timeout is opsd's to keep; the client only must not give up before opsd answers.
            let response = try await connection.client(timeout: max(.seconds(600), timeout + .seconds(60))).send(request)
            // 409: the worker did not reach the state; the body is still its status, with the reason.
            let worker = try response.status == 409 ? response.decode(WorkerStatus.self) : response.decoded(WorkerStatus.self)
            if json {
                print(response.jsonText)
            } else {
                print("\(worker.name): \(worker.state.rawValue)" + (worker.pid.map { " (pid \($0))" } ?? ""))
            }
            if response.status == 409 {
                throw Failure("\(worker.name) did not reach \(action == "stop" ? "stopped" : "running"): \(worker.message ?? "no reason given")")
            }
        }
    }

    /// `--timeout`: the config's duration syntax; a usage error (exit 64) otherwise.
    static func duration(_ text: String) throws -> Duration {
        guard let duration = DurationText.parse(text), duration > .zero else {
            throw ValidationError("--timeout \(text) is not a duration; write it as in the config, e.g. 30s or 2m")
        }
        return duration
    }
}
