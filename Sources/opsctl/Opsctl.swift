import ArgumentParser
import Dispatch
import Glibc
import OpsConfig

/// opsctl's entry point: a plain `status` runs at once (`StatusFastPath`); every other command
/// line goes to ArgumentParser, in a task on the main queue as an async `main` would run it.
@main
enum OpsctlMain {
    static func main() {
        if let request = StatusFastPath.parse(CommandLine.arguments.dropFirst()) {
            exit(StatusFastPath.run(request))
        }
        // ArgumentParser exits by itself only on an error; a command that returns ends opsctl here.
        Task {
            await Opsctl.main()
            exit(0)
        }
        dispatchMain()
    }
}

struct Opsctl: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "opsctl",
        abstract: "Control opsd and inspect what it supervises.",
        discussion: """
            opsctl finds opsd's control socket through the configuration file (--config, or \
            $OPS_CONFIG, or \(ConfigLoader.defaultPath)); --socket names it directly.

            Exit status: 0 on success; 1 when the request failed or the configuration is invalid; \
            `status` exits 3 when opsd is not running, like `systemctl status`; `health` exits 0–3 like a Nagios plugin; `doctor` exits 1 on a warning and 2 on a failure.
            """,
        version: opsVersion,
        subcommands: [Status.self, Health.self, Workers.self, JobsCommand.self, EventsCommand.self, ScheduleCommand.self, LogsCommand.self, BackupCommand.self, RestoreCommand.self, Reload.self, ConfigCommand.self, Doctor.self]
    )

    // Declared here too so that `opsctl --config FILE status` works as well as `opsctl status --config FILE`.
    @OptionGroup var connection: ConnectionOptions
}
