import ArgumentParser
import ControlPlane
import Scheduling
import FoundationEssentials
import Glibc
import OpsAPI
import WireMapping

struct LogsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "logs",
        abstract: "Show a worker's or a job's output: its newest lines, or follow it.",
        discussion: """
            Under systemd opsd's children write to the journal with their name as identifier, and \
            this runs `journalctl -t NAME` with the matching options (so `journalctl -t NAME` does \
            the same, with all of journalctl's filters). Elsewhere (opsd on a terminal, in a \
            container) opsd keeps the newest 64 KiB of each worker's and job's output in memory, \
            since it started, and this prints the newest lines of it, and with -f each new one as \
            it comes (lines cut by the 64 KiB bound are skipped); there --since needs the journal \
            and is refused. A job's finished runs keep their own tail: `opsctl jobs show NAME`.

            Examples:
              opsctl logs web              the newest 10 lines of worker web
              opsctl logs web -n 100
              opsctl logs nightly --since 2h -f   (under systemd)

            When opsd is not running and this host has a journal, the journal is read all the \
            same (the name unchecked): the lines before a crash are what one looks for.

            Exit status: 0 on success; 1 for an unknown name or a wrong option (the message lists \
            the workers and jobs); 3 when opsd is not running and there is no journal; under \
            systemd, journalctl's own status.
            """
    )

    @Argument(help: ArgumentHelp("The worker's or job's name (see `opsctl status`, `opsctl jobs`).", valueName: "name"), completion: NameCompletion.workersAndJobs)
    var name: String

    @Option(name: [.customShort("n"), .customLong("lines")], help: ArgumentHelp("Show the newest N lines.", valueName: "N"))
    var lines = 10

    @Option(help: ArgumentHelp(
        "Only lines at or after this time: a duration back from now (30m, 2h, 1d) or a time (2026-12-07T09:00:00Z, or a local '2026-12-07 09:00'); journal only.",
        valueName: "time"))
    var since: String?

    @Flag(name: .shortAndLong, help: "Follow: print new lines as they come, until interrupted or opsd stops.")
    var follow = false

    @OptionGroup var options: NamedConnection
    var connection: ConnectionOptions { options.resolved(from: CommandLine.arguments) }

    func validate() throws {
        guard lines >= 1 else { throw ValidationError("-n must be a whole number from 1, not \(lines)") }
    }

    func run() async throws {
        try await reportingFailures {
            let start: Date?
            if let since {
                guard let parsed = EventSince.parse(since, now: Date(), zone: .local) else { throw Failure(EventSince.problem(since, option: "--since ")) }
                start = parsed
            } else {
                start = nil
            }
            let logs: ChildLogs
            do {
                logs = try await childLogs()
            } catch let error as ControlClientError where error.isNotRunning && Journalctl.available {
                printError("opsctl: opsd is not running; reading the journal")
                try Journalctl.exec(identifier: name, lines: lines, since: start, follow: follow)
            }
            switch logs.source {
            case .journal:
                try Journalctl.exec(identifier: name, lines: lines, since: start, follow: follow)
            case .memory:
                if start != nil {
                    throw Failure("--since needs the journal: opsd is not running under systemd and keeps only the newest lines of \(name), without their times; leave it out")
                }
                for line in logs.lines { print(line) }
                guard follow else { return }
                // Each line as it comes, also into a pipe (where stdout is otherwise held back).
                fflush(nil)
                var position = logs.position ?? 0
                while let next = try await poll(kind: logs.kind, after: position) {
                    for line in next.lines { print(line) }
                    fflush(nil)
                    position = next.position ?? position
                }
            }
        }
    }

    /// How long one long poll of -f lasts; opsd answers earlier as soon as a line comes.
    static let pollSeconds = 30

    /// One long poll of -f: the lines after `after`, or nil once opsd has stopped (said on stderr).
    private func poll(kind: String, after: UInt64) async throws -> ChildLogs? {
        do {
            let response = try await connection.client(timeout: .seconds(Self.pollSeconds + 10)).send(ControlRequest(
                method: "GET", path: "/v1/\(kind == "job" ? "jobs" : "workers")/\(name)/logs",
                query: ["after": "\(after)", "wait": "\(Self.pollSeconds)"]))
            if response.status == 503 {
                printError("opsctl: opsd is stopping; no more output to follow")
                return nil
            }
            return try response.decoded(ChildLogs.self)
        } catch let error as ControlClientError where error.isNotRunning {
            printError("opsctl: opsd stopped; no more output to follow")
            return nil
        }
    }

    /// The worker's logs, else the job's: the second answer's error names every worker and job.
    private func childLogs() async throws -> ChildLogs {
        let client = try connection.client()
        let query = ["lines": "\(lines)"]
        let worker = try await client.send(ControlRequest(method: "GET", path: "/v1/workers/\(name)/logs", query: query))
        if worker.status != 404 { return try worker.decoded(ChildLogs.self) }
        return try await client.send(ControlRequest(method: "GET", path: "/v1/jobs/\(name)/logs", query: query)).decoded(ChildLogs.self)
    }
}

/// `journalctl`, run in opsctl's place: opsctl links no libsystemd (its start-up cost is what
/// `opsctl status` must not pay), and journalctl's output, pager and exit status are what a
/// reader of the journal expects.
enum Journalctl {
    /// The arguments for `identifier`'s newest `lines`, from `since`, following when `follow`.
    static func arguments(identifier: String, lines: Int, since: Date?, follow: Bool) -> [String] {
        var arguments = ["journalctl", "--no-pager", "-t", identifier, "-n", "\(lines)"]
        if let since { arguments += ["--since", "@\(Int(since.timeIntervalSince1970))"] }
        if follow { arguments.append("-f") }
        return arguments
    }

    /// Whether this host runs journald.
    static var available: Bool { access("/run/systemd/journal/socket", F_OK) == 0 }

    /// Replaces this process with journalctl; returns only on failure.
    static func exec(identifier: String, lines: Int, since: Date?, follow: Bool) throws -> Never {
        let arguments = arguments(identifier: identifier, lines: lines, since: since, follow: follow)
        let argv = arguments.map { strdup($0) } + [nil]
        execvp("journalctl", argv)
        let reason = String(cString: strerror(errno))
        throw Failure("cannot run journalctl (\(reason)); the output of \(identifier) is in the journal: install systemd's journalctl or read it there")
    }
}
