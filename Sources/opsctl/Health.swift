import ArgumentParser
import Checks
import ControlPlane
import FoundationEssentials
import Glibc
import OpsAPI
import OpsConfig
import ProcessControl
import Scheduling
import WireMapping

struct Health: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "health",
        abstract: "Show the checks' states: from opsd when it runs, else by running them in-process.",
        discussion: """
            With opsd running, shows its confirmed states (after fail_after/recover_after) and latest \
            results; --now asks opsd to run the checks first, so the results are fresh (the run \
            counts as a scheduled one: history, fail_after, alerts). Without opsd, runs the checks \
            from the configuration once, here, and says so on stderr: cron jobs and probes keep \
            working while opsd is down.

            Examples:
              opsctl health                  the states opsd knows
              opsctl health --now disk-root  run disk-root now, then show it
              opsctl health --nagios         one Nagios plugin line with performance data

            Exit status, as a Nagios plugin's, from the worst state: 2 when any check is CRITICAL, \
            else 1 when any is WARNING, else 3 when any is UNKNOWN (also when a check has not run \
            yet, a name is unknown, or the configuration is invalid), else 0. CRITICAL outranks \
            UNKNOWN, as in monitoring-plugins: one check that cannot measure never hides an outage.
            """
    )

    @OptionGroup var options: NamedConnection
    var connection: ConnectionOptions { options.resolved(from: CommandLine.arguments) }

    @Flag(help: "Print application/health+json (status pass/warn/fail, checks with observedValue, observedUnit, time).")
    var json = false

    @Flag(help: "Print one Nagios plugin line with performance data.")
    var nagios = false

    @Flag(help: "Run the checks now (through opsd when it runs) and show the fresh results.")
    var now = false

    @Argument(help: ArgumentHelp("Checks to show; all when none is named.", valueName: "check"), completion: NameCompletion.checks)
    var checks: [String] = []

    func validate() throws {
        guard !(json && nagios) else { throw ValidationError("--json and --nagios are two different outputs; choose one") }
    }

    func run() async throws {
        let reports: [CheckReport]
        let source: String
        do {
            (reports, source) = try await collect()
        } catch let failure as Failure {
            // A probe must read an operational problem as UNKNOWN, never as OK or CRITICAL.
            if nagios { print("OPSD UNKNOWN - \(failure.description.replacing("|", with: "/"))") } else { printError("opsctl: \(failure.description)") }
            throw ExitCode(3)
        }
        if json {
            print(String(decoding: HealthDocument(reports: reports, version: opsVersion, description: source).json(), as: UTF8.self))
        } else if nagios {
            print(NagiosOutput.line(reports))
        } else {
            print(HealthTable.render(reports), terminator: "")
        }
        let code = reports.overallState.exitCode
        if code != 0 { throw ExitCode(code) }
    }

    /// The reports from opsd, or from an in-process run when opsd is not running.
    private func collect() async throws -> ([CheckReport], String) {
        let route = now ? "/v1/health/run" : "/v1/health"
        let path = checks.isEmpty ? route : route + "?checks=" + checks.joined(separator: ",")
        do {
            // A run now lasts as long as the slowest check's timeout.
            let client = try connection.client(timeout: now ? .seconds(300) : .seconds(30))
            let response = try await client.send(ControlRequest(method: now ? "POST" : "GET", path: path))
            return (try response.decoded([CheckHealth].self).map(CheckReport.init), "checks run by opsd")
        } catch ControlClientError.notRunning, ControlClientError.staleSocket {
            return try await runInProcess()
        } catch let error as ControlClientError {
            throw Failure(error.description)
        }
    }

    private func runInProcess() async throws -> ([CheckReport], String) {
        let result = ConfigLoader.read(path: connection.configPath)
        guard FileManager.default.fileExists(atPath: result.path) else {
            throw Failure("opsd is not running and \(result.path) does not exist, so there are no checks to run; pass --config PATH")
        }
        guard result.diagnostics.isEmpty else {
            throw Failure("opsd is not running and \(result.path) has \(result.diagnostics.count) problem(s), so its checks cannot run; see `opsctl config check`")
        }
        let specs = result.configuration.checks
        let unknown = checks.filter { name in !specs.contains { $0.name == name } }
        guard unknown.isEmpty else {
            let configured = specs.isEmpty ? "none is configured" : "configured: \(specs.map(\.name).joined(separator: ", "))"
            throw Failure("no check named \(unknown.joined(separator: ", ")) in \(result.path) (\(configured))")
        }
        let selected = specs.filter { checks.isEmpty || checks.contains($0.name) }
        printError("opsctl: opsd is not running; ran \(selected.count) check(s) in-process from \(result.path)")
        let environment = CheckEnvironment(spawner: DirectSpawner())
        let results = await withTaskGroup(of: (String, CheckResult).self) { group in
            for spec in selected {
                let check = environment.check(for: spec)
                group.addTask { (spec.name, await check.run()) }
            }
            return await group.reduce(into: [String: CheckResult]()) { $0[$1.0] = $1.1 }
        }
        let reports = selected.map { spec in
            // One run, no history: the run's own state is the state.
            CheckReport(
                name: spec.name, kind: spec.kind.key, state: results[spec.name]?.state, since: nil, latest: results[spec.name],
                every: spec.every, warn: spec.warn?.description, crit: spec.crit?.description
            )
        }
        return (reports, "checks run in-process by opsctl (opsd is not running)")
    }
}

/// The human form of check reports.
enum HealthTable {
    static func render(_ reports: [CheckReport]) -> String {
        guard !reports.isEmpty else { return "No checks configured.\n" }
        let rows = reports.map { report -> [String] in
            [
                report.name, report.kind, report.state?.rawValue.uppercased() ?? "PENDING",
                report.latest.flatMap(value) ?? "-", report.latest.map { age($0.time) } ?? "-",
                report.latest?.message ?? "has not run yet",
            ]
        }
        let overall = reports.overallState
        return StatusText.table([["CHECK", "KIND", "STATE", "VALUE", "AGE", "MESSAGE"]] + rows).joined(separator: "\n")
            + "\n\nOverall: \(overall.nagiosWord)\n"
    }

    private static func value(_ result: CheckResult) -> String? {
        guard let value = result.value else { return nil }
        let number = NumberText.fixed(value, digits: abs(value) >= 100 || value == value.rounded() ? 0 : 1)
        switch result.unit {
        case "percent": return number + "%"
        case "ms": return number + " ms"
        case "items": return number
        case let unit?: return unit.isEmpty ? number : "\(number) \(unit)"
        case nil: return number
        }
    }

    private static func age(_ time: Date) -> String {
        let seconds = max(0, Date().timeIntervalSince(time))
        return seconds < 1 ? "now" : StatusText.duration(seconds) + " ago"
    }
}
