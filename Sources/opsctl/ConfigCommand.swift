import ArgumentParser
import FoundationEssentials
import Glibc
import OpsAPI
import OpsConfig
import ProcessControl

struct ConfigCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "config",
        abstract: "Work with configuration files.",
        subcommands: [Check.self]
    )

    struct Check: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "check",
            abstract: "Validate a configuration file exactly as opsd would, listing every problem.",
            discussion: """
                Each problem names its key path and line, e.g.
                  checks[2].warn: "eighty" is not a threshold; write a number (100), a percentage (80%) or a Nagios range (10:, ~:50, @10:20) (line 14)
                Warnings (valid, but probably not meant: a secret file inside backup.files, a
                file under backup.databases that is not SQLite, cgroup limits on a machine where
                opsd cannot apply them) go to
                stderr and leave the exit status alone.
                Exit status: 0 when the file is valid, 1 when it is not.
                """
        )

        @Argument(help: ArgumentHelp("The file to check (default: --config, $OPS_CONFIG, or \(ConfigLoader.defaultPath)).", valueName: "file"))
        var file: String?

        @Option(name: .shortAndLong, help: ArgumentHelp("The configuration file, when FILE is not given.", valueName: "path"))
        var config: String?

        @Flag(help: "Print the result as JSON: {file, valid, problems: [{path, line, message}], warnings: [text]} (docs/cli-json.md).")
        var json = false

        func run() throws {
            let path = file ?? config ?? ProcessInfo.processInfo.environment["OPS_CONFIG"] ?? ConfigLoader.defaultPath
            let result = ConfigLoader.read(path: path)
            let warnings = result.diagnostics.isEmpty ? Self.warnings(result.configuration) : []
            if json {
                let problems = result.diagnostics.map { ConfigCheckReport.Problem(path: $0.path, line: $0.line, message: $0.message) }
                print(try WireJSON.text(ConfigCheckReport(file: result.path, problems: problems, warnings: warnings)))
            } else if result.diagnostics.isEmpty {
                print("\(result.path): valid (\(summary(result.configuration)))")
                for warning in warnings { printError("warning: \(warning)") }
            } else {
                printError(ConfigError(file: result.path, diagnostics: result.diagnostics).description)
            }
            if !result.diagnostics.isEmpty { throw ExitCode.failure }
        }

        /// What is valid but probably not meant: secret files inside `backup.files`, and cgroup
        /// limits on a machine where opsd cannot get a delegated cgroup.
        static func warnings(_ config: Configuration) -> [String] {
            ConfigSecrets.filesInBackup(of: config).map {
                "backup.files includes \($0.path), which \($0.key) names as a secret; backups leave it out (list it in backup.exclude to silence this)"
            } + (config.backup?.nonSQLiteDatabaseWarnings() ?? []) + cgroupLimitWarnings(config, reason: CgroupTree.machineCannotDelegate())
        }

        /// One warning per worker with cgroup limits when `reason` says opsd cannot apply them here.
        static func cgroupLimitWarnings(_ config: Configuration, reason: String?) -> [String] {
            guard let reason else { return [] }
            return config.workers.enumerated().compactMap { index, worker in
                let keys = worker.limits.cgroupKeys
                guard !keys.isEmpty else { return nil }
                return "workers[\(index)].limits: \(keys.joined(separator: ", ")) apply only when opsd runs under systemd with Delegate=yes (deploy/systemd/opsd.service), and \(reason); opsd would run \(worker.name) without them (its rlimits apply everywhere)"
            }
        }

        func summary(_ config: Configuration) -> String {
            func count(_ n: Int, _ noun: String) -> String { "\(n) \(noun)\(n == 1 ? "" : "s")" }
            return [
                count(config.workers.count, "worker"), count(config.checks.count, "check"), count(config.jobs.count, "job"),
                config.backup == nil ? "no backup" : "backup", count(config.alerts.count, "alert route"),
            ].joined(separator: ", ")
        }
    }
}
