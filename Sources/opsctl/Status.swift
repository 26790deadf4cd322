import ArgumentParser
import ControlPlane
import FoundationEssentials
import Glibc
import OpsAPI
import OpsConfig
import ProcessControl
import Scheduling

struct Status: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Show opsd's state: version, uptime, configuration, workers, checks and backup.",
        discussion: """
            Exit status (as supervisorctl's): 0 when opsd answers and every worker that should run does; 3 when \
            a worker that should run does not (fatal, in backoff after a failure, or exited with a failure; a worker \
            stopped on request, or that exited 0 and its restart policy leaves down, is not counted), and 3 when opsd is not running (stderr says which).
            """
    )

    @OptionGroup var connection: ConnectionOptions

    @Flag(help: "Print the status as JSON (snake_case keys, ISO-8601 times).")
    var json = false

    func run() async throws {
        try await reportingFailures { try Self.show(connection: connection, json: json) }
    }

    /// Asks opsd for its status and prints it; throws `Failure` (exit 3) when a worker that
    /// should run does not. Blocking, so the fast path (`StatusFastPath`) runs it without a task.
    static func show(connection: ConnectionOptions, json: Bool) throws {
        let response = try connection.client().sendBlocking(ControlRequest(method: "GET", path: "/v1/status"))
        let report = try response.decoded(StatusReport.self)
        print(json ? response.jsonText : StatusText.render(report), terminator: json ? "\n" : "")
        let down = notRunning(report.workers)
        guard down.isEmpty else {
            throw Failure("\(down.map { "\($0.name) is \($0.state.rawValue)" }.joined(separator: ", ")); it should be running", exitCode: 3)
        }
    }

    /// The workers that should run and do not (also `opsctl doctor`'s rule). A clean exit that the
    /// restart policy leaves down is by design, not a worker that should run.
    static func notRunning(_ workers: [WorkerStatus]) -> [WorkerStatus] {
        workers.filter { worker in
            worker.state == .fatal || worker.state == .backoff || (worker.state == .exited && !(worker.lastExit?.code == 0 && worker.lastExit?.signal == nil))
        }
    }
}

/// The human form of a `StatusReport`.
enum StatusText {
    static func render(_ report: StatusReport) -> String {
        var lines = ["opsd \(report.version) is running (pid \(report.pid), up \(duration(report.uptimeSeconds)))"]
        let reloads = report.reloads == 1 ? "1 reload" : "\(report.reloads) reloads"
        lines.append("  config  \(report.configPath) (loaded \(time(report.configLoadedAt)), \(reloads))")
        lines.append("  socket  \(report.socket)")
        lines.append("  state   \(report.stateDirectory)")
        let drops = [eventDropsLine(report.eventDrops), alertDropsLine(report.alertDrops)].compactMap { $0 }
        if !drops.isEmpty {
            lines.append("")
            lines.append(contentsOf: drops)
        }
        if let errors = report.lastReloadErrors {
            lines.append("")
            lines.append("The last reload was rejected; the configuration above stays in force. Problems:")
            lines += errors.map { "  \($0)" }
        }
        lines.append("")
        lines.append("Workers (\(report.workers.count))")
        if report.workers.isEmpty { lines.append("  none configured") }
        if !report.workers.isEmpty {
            lines += table([["NAME", "STATE", "PID", "UPTIME", "RESTARTS", "LAST EXIT", "RSS", "CPU", "STATUS"]] + report.workers.map { worker in
                [
                    worker.name, worker.state.rawValue, worker.pid.map(String.init) ?? "-", worker.uptimeSeconds.map(duration) ?? "-",
                    restarts(worker), worker.lastExit.map(exit) ?? "-", worker.rssBytes.map(megabytes) ?? "-",
                    worker.cpuSeconds.map { NumberText.fixed($0, digits: 2) + "s" } ?? "-", worker.message ?? worker.statusText ?? "",
                ]
            })
        }
        lines.append("")
        lines.append("Checks (\(report.checks.count))")
        if report.checks.isEmpty { lines.append("  none configured") }
        lines += table(report.checks.map { [$0.name, $0.kind, $0.state.rawValue, "every \(duration($0.everySeconds))", $0.message ?? ""] })
        lines.append("")
        if let backup = report.backup {
            lines.append("Backup")
            lines.append("  repository  \(backup.repository)")
            lines.append("  remote      \(backup.remote ?? "none")")
            lines.append("  schedule    \(backup.schedule ?? "none (run `opsctl backup`)")")
            lines.append("  last        \(backup.lastBackupAt.map(time) ?? "never")")
            if backup.remote != nil {
                let pending = backup.unpushedCommits.map { $0 > 0 ? " (\($0) commit(s) not pushed yet)" : "" } ?? ""
                lines.append("  pushed      \(backup.lastPushedAt.map(time) ?? "never")\(pending)")
            }
            if let error = backup.lastError { lines.append("  last error  \(error)") }
        } else {
            lines.append("Backup: not configured")
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// One line when a consumer of opsd's event stream fell behind and dropped events (a webhook
    /// receiver that is down, a journal that blocks); nil while nothing was dropped.
    static func eventDropsLine(_ drops: [String: Int]?) -> String? {
        let dropped = (drops ?? [:]).filter { $0.value > 0 }.sorted { $0.key < $1.key }
        guard !dropped.isEmpty else { return nil }
        let parts = dropped.map { "\($0.key) \($0.value)" }.joined(separator: ", ")
        return "Events dropped since opsd started (a consumer fell behind): \(parts); see opsd_event_drops_total in /metrics"
    }

    /// One line when an alert route dropped alerts (its receiver is slow or down, or its rate
    /// limit was reached); nil while none did.
    static func alertDropsLine(_ drops: [String: Int]?) -> String? {
        let dropped = (drops ?? [:]).filter { $0.value > 0 }.sorted { $0.key < $1.key }
        guard !dropped.isEmpty else { return nil }
        let parts = dropped.map { "\($0.key) \($0.value)" }.joined(separator: ", ")
        return "Alerts dropped since opsd started (a route's queue was full or its rate limit reached): \(parts); see opsd_alert_deliveries_total in /metrics"
    }

    static func table(_ rows: [[String]]) -> [String] {
        guard let columns = rows.first?.count else { return [] }
        let widths = (0..<columns).map { column in rows.map { $0[column].count }.max() ?? 0 }
        return rows.map { row in
            "  " + row.enumerated().map { index, cell in
                index == columns - 1 ? cell : cell + String(repeating: " ", count: widths[index] - cell.count + 2)
            }.joined()
        }
    }

    /// `exit 1`, `signal 9 (KILL)`: as opsd's log says it.
    /// Unplanned restarts, then what an operator and `max_lifetime` did, apart: `0 (2 by operator, 1 planned)`.
    static func restarts(_ worker: WorkerStatus) -> String {
        let apart = [
            worker.operatorActions.flatMap { $0 > 0 ? "\($0) by operator" : nil },
            worker.plannedRestarts.flatMap { $0 > 0 ? "\($0) planned" : nil },
        ].compactMap { $0 }
        return String(worker.restarts) + (apart.isEmpty ? "" : " (\(apart.joined(separator: ", ")))")
    }

    static func exit(_ exit: ProcessExit) -> String {
        if let signal = exit.signal { return ExitStatus.signaled(signal).description }
        return ExitStatus.exited(exit.code ?? 0).description
    }

    static func megabytes(_ bytes: UInt64) -> String {
        NumberText.fixed(Double(bytes) / 1_048_576, digits: 1) + "M"
    }

    /// Whole seconds in the config's own duration form (`3m12s`).
    static func duration(_ seconds: Double) -> String {
        DurationText.format(.seconds(Int64(seconds)))
    }

    static func time(_ date: Date) -> String {
        date.ISO8601Format()
    }
}
