import ArgumentParser
import ControlPlane
import OpsAPI

struct Workers: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Start, stop or restart one worker.",
        discussion: """
            `start` also revives a worker that is fatal (it kept crashing) and forgets its crash history. \
            `stop` keeps the worker down until `start`, a reload that changes it, or a restart of opsd. \
            Exit status: 0 on success, 1 for an unknown worker or a failed request, 3 when opsd is not running.
            """,
        subcommands: [Start.self, Stop.self, Restart.self]
    )

    struct Start: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Start a worker that is down (stopped, exited or fatal).")
        @OptionGroup var options: WorkerOptions
        func run() async throws { try await options.perform("start") }
    }

    struct Stop: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Stop a worker: its stop signal to the process group, SIGKILL after the stop timeout.")
        @OptionGroup var options: WorkerOptions
        func run() async throws { try await options.perform("stop") }
    }

    struct Restart: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Stop a worker, then start it again.")
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

    func perform(_ action: String) async throws {
        try await reportingFailures {
            let path = "/v1/workers/\(name)/\(action)"
            let response = try await connection.client(timeout: .seconds(600)).send(ControlRequest(method: "POST", path: path))
            let worker = try response.decoded(WorkerStatus.self)
            if json {
                print(response.jsonText)
            } else {
                print("\(worker.name): \(worker.state.rawValue)" + (worker.pid.map { " (pid \($0))" } ?? ""))
            }
        }
    }
}
