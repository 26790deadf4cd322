import ArgumentParser
import ControlPlane
import FoundationEssentials
import Glibc
import Jobs
import Logging
import OpsAPI
import OpsConfig
import OpsLogging
import ProcessControl
import Scheduling
import WireMapping

struct JobsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "jobs",
        abstract: "Scheduled jobs: list them, show a job's runs, run one now.",
        discussion: """
            Jobs come from the configuration's `jobs:` section, plus a job named `backup` when \
            `backup.schedule` is set. Run results: ok, failed, skipped (the previous run was still \
            going), missed (later than misfire_grace), interrupted (opsd stopped during the run).

            When opsd is not running, `list` and `show` read the configuration and the state \
            database, and `run` runs the job in this process; each says so.
            """,
        subcommands: [List.self, Show.self, Run.self],
        defaultSubcommand: List.self
    )

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "list",
            abstract: "List every job with its trigger, last run and next run (the default).",
            discussion: "Exit status: 0 on success, 1 when the configuration cannot be read.")

        @Flag(help: "Print JSON instead of a table.")
        var json = false

        @OptionGroup var connection: ConnectionOptions

        func run() async throws {
            try await reportingFailures {
                let jobs: [JobStatus]
                var note: String?
                do {
                    jobs = try await connection.client().send(ControlRequest(method: "GET", path: "/v1/jobs")).decoded([JobStatus].self)
                } catch let error as ControlClientError where error.isNotRunning {
                    (jobs, note) = try await offline()
                }
                if json {
                    print(try jsonText(jobs))
                    return
                }
                if let note { printError("opsctl: \(note)") }
                guard !jobs.isEmpty else {
                    print("no jobs are scheduled (add some under jobs: in the configuration)")
                    return
                }
                let rows = jobs.map { job -> [String] in
                    let last = job.lastRun.map { run in
                        "\(run.result.rawValue) \(ISOTime.format(run.startedAt ?? run.scheduledAt, in: .local))" + (run.durationSeconds.map { " (\(seconds($0)))" } ?? "")
                    } ?? "never"
                    let next = job.running ? "running now" : (job.nextRun.map { ISOTime.format($0, in: .local) } ?? "-")
                    return [job.name, job.kind, job.trigger, last, next]
                }
                StatusText.table([["JOB", "KIND", "TRIGGER", "LAST RUN", "NEXT RUN"]] + rows).forEach { print($0) }
            }
        }

        /// The list without a daemon: next runs from the config, last runs from the state database.
        private func offline() async throws -> ([JobStatus], String) {
            let config = try loadConfiguration(connection.configPath)
            let store = try? JobRunStore(stateDirectory: config.daemon.stateDirectory)
            var jobs: [JobStatus] = []
            let now = Date()
            for spec in config.scheduledJobs {
                let previous = try? await store?.lastFire(of: spec.name)
                let last = try? await store?.lastRun(of: spec.name)
                let next = spec.trigger.next(after: max(now, previous ?? .distantPast), previous: previous)
                jobs.append(JobStatus(spec: spec, nextRun: next, running: false, lastRun: last))
            }
            let note = "opsd is not running; next runs are computed from \(connection.configPath)"
                + (store == nil ? " (its state database is not readable, so last runs are unknown)" : "")
            return (jobs, note)
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "show",
            abstract: "Show a job's recent runs, newest first.",
            discussion: "Exit status: 0 on success, 1 for an unknown job.")

        @Argument(help: ArgumentHelp("The job's name (see `opsctl jobs`).", valueName: "name"), completion: NameCompletion.jobs)
        var name: String

        @Option(help: "How many runs to show.")
        var limit = 20

        @Flag(help: "Print JSON instead of a table.")
        var json = false

        @OptionGroup var options: NamedConnection
        var connection: ConnectionOptions { options.resolved(from: CommandLine.arguments) }

        func run() async throws {
            try await reportingFailures {
                let runs: [JobRunStatus]
                do {
                    runs = try await connection.client().send(ControlRequest(method: "GET", path: "/v1/jobs/\(name)/runs", query: ["limit": "\(limit)"]))
                        .decoded([JobRunStatus].self)
                } catch let error as ControlClientError where error.isNotRunning {
                    let config = try loadConfiguration(connection.configPath)
                    guard config.scheduledJobs.contains(where: { $0.name == name }) else {
                        throw Failure("no job named \(name) in \(connection.configPath); `opsctl jobs` lists them")
                    }
                    do {
                        runs = try await JobRunStore(stateDirectory: config.daemon.stateDirectory).history(of: name, limit: limit).map(JobRunStatus.init)
                    } catch {
                        throw Failure("cannot read the state database in \(config.daemon.stateDirectory): \(error); run as a user that may read it (e.g. ops)")
                    }
                    if !json { printError("opsctl: opsd is not running; these runs come from its state database") }
                }
                if json {
                    print(try jsonText(runs))
                    return
                }
                guard !runs.isEmpty else {
                    print("\(name) has not run yet")
                    return
                }
                let rows = runs.map { run in
                    [ISOTime.format(run.scheduledAt, in: .local), run.result.rawValue, "\(run.attempts)", run.durationSeconds.map(seconds) ?? "-", run.message ?? ""]
                }
                StatusText.table([["SCHEDULED", "RESULT", "ATTEMPTS", "DURATION", "MESSAGE"]] + rows).forEach { print($0) }
                // The newest run's output tail below the table: what a failed run said last.
                if let newest = runs.first, let output = newest.output {
                    print("\nlast output of the run scheduled at \(ISOTime.format(newest.scheduledAt, in: .local)):")
                    for line in output.split(separator: "\n", omittingEmptySubsequences: false) { print("  \(line)") }
                }
            }
        }
    }

    struct Run: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "run",
            abstract: "Run a job now, outside its schedule, and wait for it to end.",
            discussion: """
                Through opsd when it runs (its scheduler refuses a job that is running already, so a \
                cron line and the daemon never overlap), with the job's output relayed as it comes; \
                otherwise in this process, with the job's timeout and retries and the run recorded in \
                the state database. Either way the output is on stdout (stderr with --json), and the \
                result line last. Ctrl-C stops the relay, not a run in opsd: `opsctl jobs show NAME` \
                has its result. This is what deploy/cron/ops calls.

                Exit status: 0 when the run succeeded, 1 when it failed or could not start.
                """)

        @Argument(help: ArgumentHelp("The job's name (see `opsctl jobs`).", valueName: "name"), completion: NameCompletion.jobs)
        var name: String

        @Flag(help: "Print the run's record as JSON.")
        var json = false

        @OptionGroup var options: NamedConnection
        var connection: ConnectionOptions { options.resolved(from: CommandLine.arguments) }

        func run() async throws {
            try await reportingFailures {
                let record: JobRunStatus
                do {
                    // The run's output as opsd relays it, then its record (JobRunStreamOutput).
                    let output = JobRunStreamOutput(descriptor: json ? STDERR_FILENO : STDOUT_FILENO)
                    let answer = try await connection.client(timeout: .seconds(86400))
                        .stream(ControlRequest(method: "POST", path: "/v1/jobs/\(name)/run", query: ["stream": "1"]), receive: output.receive)
                    record = try output.record(answer)
                } catch let error as ControlClientError where error.isNotRunning {
                    record = try await inProcess()
                }
                if json {
                    print(try jsonText(record))
                } else {
                    print("\(name): \(record.result.rawValue)" + (record.durationSeconds.map { " in \(seconds($0))" } ?? "") + (record.message.map { ": \($0)" } ?? ""))
                }
                if record.result != .ok { throw ExitCode.failure }
            }
        }

        private func inProcess() async throws -> JobRunStatus {
            let config = try loadConfiguration(connection.configPath)
            guard let spec = config.scheduledJobs.first(where: { $0.name == name }) else {
                throw Failure("no job named \(name) in \(connection.configPath); `opsctl jobs` lists them")
            }
            if spec.action == .backup {
                // Backups run in opsctl's companion, which links libgit2 (see CompanionCommands.swift).
                // The config goes by name: the companion's own search for a --config stops at the
                // word `backup`, which here may be the job's name, before a --config after it.
                printError("opsctl: opsd is not running; taking the backup with opsctl backup")
                try Companion.exec("backup", ["--config", connection.configPath])
            }
            printError("opsctl: opsd is not running; running \(name) in this process")
            let store: JobRunStore
            do { store = try JobRunStore(stateDirectory: config.daemon.stateDirectory) } catch {
                throw Failure("cannot open the state database in \(config.daemon.stateDirectory): \(error); run as a user that may write there (e.g. ops)")
            }
            let children: ChildProcesses
            do { children = try ChildProcesses() } catch { throw Failure("\(error)") }
            // With --json, stdout carries the record alone; the job's own output goes to stderr.
            let outputDescriptor = json ? STDERR_FILENO : STDOUT_FILENO
            let catalog = JobCatalog(children: children, output: { _ in dup(outputDescriptor) }, store: store, configPath: nil)
            guard let job = catalog.jobs(for: Configuration(jobs: [spec])).first else { throw Failure("\(name) cannot run here") }
            // The format opsctl-backup writes too: human on a terminal, JSON lines elsewhere.
            StderrLogHandler.bootstrap(level: .info)
            return JobRunStatus(await JobScheduler.runOnce(job, store: store, logger: Logger(label: "opsctl")))
        }
    }
}

private func loadConfiguration(_ path: String) throws -> Configuration {
    do { return try ConfigLoader.load(path: path) } catch {
        throw Failure("\(error)")
    }
}

private func seconds(_ value: Double) -> String {
    value < 10 ? NumberText.fixed(value, digits: 2) + "s" : DurationText.format(.seconds(Int64(value.rounded())))
}

struct ScheduleCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "schedule",
        abstract: "Check a schedule before deploying it.",
        subcommands: [Preview.self]
    )

    struct Preview: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "preview",
            abstract: "Print the next fire times of a cron expression or interval.",
            discussion: """
                EXPR is what a job's `schedule:` takes: five cron fields (minute hour day-of-month month \
                day-of-week, Vixie semantics: day-of-month and day-of-week match with OR when both are \
                restricted), a macro (@hourly @daily @weekly @monthly @yearly), or an interval \
                (`every 10m`, `2h`). Times are printed in --tz with their UTC offset, so daylight-saving \
                changes are visible: a skipped time runs once right after the change, a repeated \
                hour runs once (jobs with `*` in the hour field follow real time).

                Examples:
                  opsctl schedule preview '30 2 * * *' --tz Europe/Berlin --from 2026-03-28 --count 3
                  opsctl schedule preview '0 9 1,15 * mon' --count 5 --json
                """
        )

        @Argument(help: ArgumentHelp("A cron expression, macro or interval; quote it.", valueName: "expr"))
        var expression: String

        @Option(name: .customLong("tz"), help: ArgumentHelp("The IANA time zone to read EXPR in (default: UTC).", valueName: "zone"))
        var zoneName = "UTC"

        @Option(help: ArgumentHelp("Start after this time: ISO-8601 with offset, or a wall time read in --tz (default: now).", valueName: "time"))
        var from: String?

        @Option(help: "How many fire times to print.")
        var count = 10

        @Flag(help: "Print a JSON array of ISO-8601 timestamps with offsets.")
        var json = false

        func run() async throws {
            try await reportingFailures {
                guard let zone = Trigger.zone(named: zoneName) else {
                    throw Failure("--tz \(zoneName) is not a time zone in /usr/share/zoneinfo; use an IANA name such as Europe/Berlin or UTC")
                }
                guard (1...10000).contains(count) else { throw Failure("--count must be between 1 and 10000") }
                let start: Date
                if let from {
                    guard let parsed = ISOTime.parse(from, zone: zone) else {
                        throw Failure("--from \(from) is not a time; write e.g. 2026-03-29T01:30:00+01:00 or 2026-03-29 01:30")
                    }
                    start = parsed
                } else {
                    start = Date()
                }
                let trigger: Trigger
                do { trigger = try Trigger.parse(expression, zone: zone) } catch let error as CronError { throw Failure(error.description) }
                if trigger == .startup { throw Failure("@reboot fires once each time opsd starts; it has no calendar times to preview") }
                let times = trigger.upcoming(after: start, count: count).map { ISOTime.format($0, in: zone) }
                if json {
                    print(try jsonText(times))
                } else {
                    if times.count < count { printError("opsctl: only \(times.count) fire time(s) in the next 8 years") }
                    times.forEach { print($0) }
                }
            }
        }
    }
}
