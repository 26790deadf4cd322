import ArgumentParser
import ControlPlane
import Foundation
import Jobs
import OpsConfig
import Scheduling

struct JobsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "jobs",
        abstract: "List the scheduled jobs: trigger, last run, next run. With a NAME, that job's recent runs.",
        discussion: """
            Jobs come from the configuration's `jobs:` section, plus a job named `backup` when \
            `backup.schedule` is set. Results: ok, failed, skipped (the previous run was still going), \
            missed (later than misfire_grace), interrupted (opsd stopped during the run).

            When opsd is not running, the list is computed from the configuration and the state \
            database, and says so.

            Exit status: 0 on success, 1 for an unknown job or an unreadable configuration.
            """
    )

    @Argument(help: ArgumentHelp("A job's name: show its recent runs instead of the list.", valueName: "name"))
    var name: String?

    @Option(help: "How many runs to show with NAME.")
    var limit = 20

    @Flag(help: "Print JSON instead of a table.")
    var json = false

    @OptionGroup var connection: ConnectionOptions

    func run() async throws {
        try await reportingFailures {
            if let name { try await runs(of: name) } else { try await list() }
        }
    }

    private func list() async throws {
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
                "\(run.result) \(ISOTime.format(run.startedAt ?? run.scheduledAt, in: .current))" + (run.durationSeconds.map { " (\(Self.seconds($0)))" } ?? "")
            } ?? "never"
            let next = job.running ? "running now" : (job.nextRun.map { ISOTime.format($0, in: .current) } ?? "-")
            return [job.name, job.kind, job.trigger, last, next]
        }
        StatusText.table([["JOB", "KIND", "TRIGGER", "LAST RUN", "NEXT RUN"]] + rows).forEach { print($0) }
    }

    private func runs(of name: String) async throws {
        let runs: [JobRunStatus]
        do {
            runs = try await connection.client().send(ControlRequest(method: "GET", path: "/v1/jobs/\(name)/runs", query: ["limit": "\(limit)"]))
                .decoded([JobRunStatus].self)
        } catch let error as ControlClientError where error.isNotRunning {
            let config = try loadConfiguration()
            guard config.scheduledJobs.contains(where: { $0.name == name }) else {
                throw Failure("no job named \(name) in \(connection.configPath); `opsctl jobs` lists them")
            }
            runs = try await JobRunStore(stateDirectory: config.daemon.stateDirectory).history(of: name, limit: limit).map(JobRunStatus.init)
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
            [ISOTime.format(run.scheduledAt, in: .current), run.result, "\(run.attempts)", run.durationSeconds.map(Self.seconds) ?? "-", run.message ?? ""]
        }
        StatusText.table([["SCHEDULED", "RESULT", "ATTEMPTS", "DURATION", "MESSAGE"]] + rows).forEach { print($0) }
    }

    /// The list without a daemon: next runs from the config, last runs from the state database.
    private func offline() async throws -> ([JobStatus], String) {
        let config = try loadConfiguration()
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

    private func loadConfiguration() throws -> Configuration {
        do { return try ConfigLoader.load(path: connection.configPath) } catch {
            throw Failure("\(error)")
        }
    }

    static func seconds(_ value: Double) -> String {
        value < 10 ? String(format: "%.2fs", value) : DurationText.format(.seconds(Int64(value.rounded())))
    }
}

struct ScheduleCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "schedule",
        abstract: "Check a schedule before deploying it.",
        subcommands: [Preview.self]
    )

    struct Preview: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
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
