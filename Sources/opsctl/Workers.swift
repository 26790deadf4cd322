import ArgumentParser
import ControlPlane
import OpsAPI
import OpsConfig
import Scheduling

struct Workers: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "workers",
        abstract: "Start, stop, restart or signal a worker, several (a glob) or all.",
        discussion: Workers.discussion,
        subcommands: [Start.self, Stop.self, Restart.self, Signal.self]
    )

    /// Shown by `opsctl workers --help` and by each action's `--help`: what is waited for, and the exit codes.
    static let discussion = """
        `start` also revives a worker that is fatal (it kept crashing) and forgets its crash history. \
        `stop` keeps the worker down until `start`, a reload that changes it, or a restart of opsd. \
        `all` or a glob acts on every worker it selects at once and prints each in configuration order \
        (`--json`: an array). Each waits for the outcome and prints it: `start` and `restart` until the \
        worker is running (after READY=1 with `notify: true`; without it, once it has stayed up for 1s, so \
        one that exits at once is caught), at most `--timeout`; `stop` until the worker has ended (SIGKILL \
        after its stop timeout); `signal` sends it to the worker's process group and prints the worker.

        Exit status: 0 when the worker (every selected one) reached the state (running, or stopped; signalled); \
        1 when one did not, with the reason on stderr (exec failed: no such file or directory; exited at start \
        with status N; start timeout; still starting when the timeout ended; no process to signal), for an unknown worker or a pattern \
        no worker matches, or a failed request; 3 when opsd is not running; 64 for a usage error.
        """

    struct Start: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "start", abstract: "Start a worker that is down (stopped, exited or fatal).", discussion: Workers.discussion)
        @OptionGroup var options: WorkerOptions
        func run() async throws { try await options.perform("start") }
    }

    struct Stop: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "stop", abstract: "Stop a worker: its stop signal to the process group, SIGKILL after the stop timeout.", discussion: Workers.discussion)
        @OptionGroup var options: WorkerOptions
        func run() async throws { try await options.perform("stop") }
    }

    struct Restart: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "restart", abstract: "Stop a worker, then start it again.", discussion: Workers.discussion)
        @OptionGroup var options: WorkerOptions
        func run() async throws { try await options.perform("restart") }
    }

    struct Signal: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "signal",
            abstract: "Send a signal to a worker's process group (HUP to make it reload, say).", discussion: Workers.discussion)
        @OptionGroup var options: WorkerOptions
        @Argument(help: ArgumentHelp("The signal: \(StopSignal.allCases.map(\.rawValue).joined(separator: ", ")) (SIGHUP and hup work too).", valueName: "signal"), transform: Signal.parse)
        var signal: StopSignal
        func run() async throws { try await options.perform("signal", query: ["signal": signal.rawValue]) }

        static func parse(_ text: String) throws -> StopSignal {
            let name = text.uppercased()
            guard let signal = StopSignal(rawValue: name.hasPrefix("SIG") ? String(name.dropFirst(3)) : name) else {
                throw ValidationError("\(text) is not a signal opsctl sends; use one of \(StopSignal.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            return signal
        }
    }
}

struct WorkerOptions: ParsableArguments {
    @Argument(help: ArgumentHelp("The worker's name, as in the configuration (see `opsctl status`); `all` for every worker, or a shell glob (`web-*`, quoted) for those it matches.", valueName: "name"), completion: NameCompletion.workers)
    var name: String

    @OptionGroup var options: NamedConnection
    var connection: ConnectionOptions { options.resolved(from: CommandLine.arguments) }

    @Flag(help: "Print the worker's status afterwards as JSON.")
    var json = false

    @Option(
        help: ArgumentHelp("How long `start` and `restart` wait for the worker to be running, in the config's duration form (30s, 2m; default: 30s).", valueName: "duration"),
        transform: WorkerOptions.duration
    )
    var timeout: Duration = .seconds(30)

    func perform(_ action: String, query: [String: String] = [:]) async throws {
        try await reportingFailures {
            // The stop timeout is opsd's to keep; the client only must not give up before opsd answers.
            let client = try connection.client(timeout: max(.seconds(600), timeout + .seconds(60)))
            let names = try await selection(client)
            let wait = String(Double(timeout.components.seconds) + Double(timeout.components.attoseconds) / 1e18)
            // Every selected worker at once (opsd takes turns per worker, not across them); the
            // answers are printed in configuration order.
            let responses = try await withThrowingTaskGroup(of: (Int, ControlResponse).self) { group in
                for (index, name) in names.enumerated() {
                    let request = ControlRequest(method: "POST", path: "/v1/workers/\(name)/\(action)", query: query.merging(["wait": wait]) { own, _ in own })
                    group.addTask { (index, try await client.send(request)) }
                }
                var answers = [ControlResponse?](repeating: nil, count: names.count)
                for try await (index, response) in group { answers[index] = response }
                return answers.compactMap { $0 }
            }
            var workers: [WorkerStatus] = []
            var failures: [String] = []
            for response in responses {
                // 409: the worker did not reach the state; the body is still its status, with the reason.
                let worker = try response.status == 409 ? response.decode(WorkerStatus.self) : response.decoded(WorkerStatus.self)
                workers.append(worker)
                if response.status == 409 {
                    let what = action == "signal" ? "was not signalled" : "did not reach \(action == "stop" ? "stopped" : "running")"
                    failures.append("\(worker.name) \(what): \(worker.message ?? "no reason given")")
                }
            }
            if json {
                print(isSelection || workers.count != 1 ? try jsonText(workers) : responses[0].jsonText)
            } else {
                for worker in workers { print("\(worker.name): \(worker.state.rawValue)" + (worker.pid.map { " (pid \($0))" } ?? "")) }
            }
            if !failures.isEmpty { throw Failure(failures.joined(separator: "; ")) }
        }
    }

    /// True for `all` or a glob: several workers may be meant, and `--json` prints an array.
    var isSelection: Bool { name == "all" || name.contains { "*?[".contains($0) } }

    func validate() throws {
        guard isSelection, name != "all", case .failure(let problem) = NamePattern.parse(name) else { return }
        throw ValidationError("the pattern \(name) \(problem.reason); give a worker's name, all, or a glob such as web-*")
    }

    /// The workers `name` stands for: itself when it is a plain name (opsd answers for an unknown
    /// one), every worker for `all`, the ones a glob matches, in configuration order.
    private func selection(_ client: ControlClient) async throws -> [String] {
        guard isSelection else { return [name] }
        let pattern = name == "all" ? nil : try? NamePattern.parse(name).get()
        let report = try await client.send(ControlRequest(method: "GET", path: "/v1/status")).decoded(StatusReport.self)
        let names = report.workers.map(\.name).filter { pattern?.matches($0) ?? true }
        guard !names.isEmpty else {
            let configured = report.workers.isEmpty ? "none is configured" : "configured: \(report.workers.map(\.name).joined(separator: ", "))"
            throw Failure("no worker matches \(name) (\(configured))")
        }
        return names
    }

    /// `--timeout`: the config's duration syntax; a usage error (exit 64) otherwise.
    static func duration(_ text: String) throws -> Duration {
        guard let duration = DurationText.parse(text), duration > .zero else {
            throw ValidationError("--timeout \(text) is not a duration; write it as in the config, e.g. 30s or 2m")
        }
        return duration
    }
}
