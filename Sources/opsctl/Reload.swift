import ArgumentParser
import ControlPlane
import OpsAPI

struct Reload: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "reload",
        abstract: "Make opsd re-read its configuration file (like SIGHUP or `systemctl reload opsd`).",
        discussion: "A file with errors is rejected as a whole and the running configuration stays in force; the problems are printed and the exit status is 1."
    )

    @OptionGroup var connection: ConnectionOptions

    @Flag(help: "Print opsd's answer as JSON.")
    var json = false

    func run() async throws {
        try await reportingFailures {
            let response = try await connection.client().send(ControlRequest(method: "POST", path: "/v1/reload"))
            guard response.status == 200 || response.status == 422 else { _ = try response.decoded(ReloadReport.self); return }
            let report = try response.decode(ReloadReport.self)
            if json { print(response.jsonText) }
            guard report.applied else {
                if !json {
                    printError("opsctl: reload rejected; the running configuration stays in force. Problems:")
                    report.problems.forEach { printError("  \($0)") }
                }
                throw ExitCode.failure
            }
            if !json {
                let changed = report.changedSections.isEmpty ? "nothing changed" : "changed: " + report.changedSections.joined(separator: ", ")
                print("configuration reloaded (\(changed))")
                if !report.needsRestart.isEmpty {
                    print("restart opsd to apply: \(report.needsRestart.joined(separator: ", "))")
                }
            }
        }
    }
}
