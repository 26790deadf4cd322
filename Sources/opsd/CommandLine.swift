import Glibc
import OpsConfig
import OpsJournal

/// opsd's command line: two options, parsed by hand.
///
/// swift-argument-parser serves opsctl's many subcommands well, but in the daemon it cost
/// 0.4 MiB of memory for as long as opsd ran (its reflection touches type metadata across the
/// whole binary at start-up; docs/performance-notes.md) to read two options.
struct OpsdOptions: Equatable {
    /// The configuration file.
    var config: String
    /// Where logs go; nil picks by environment (`LogOutput.detect`: $OPS_LOG_FORMAT, else
    /// journald under systemd, human on a terminal, JSON otherwise).
    var logOutput: LogOutput?

    static let help = """
        opsd: the ops daemon; supervises the application's workers, runs its checks, jobs and backups.

        Usage: opsd [--config PATH] [--log-format FORMAT]

        Options:
          -c, --config PATH        The configuration file (default: $OPS_CONFIG, else \(ConfigLoader.defaultPath)).
              --log-format FORMAT  Where logs go: auto, journal, json or human. auto (the default) takes
                                   $OPS_LOG_FORMAT, else journald under systemd, human on a terminal,
                                   JSON lines otherwise.
          -h, --help               Show this help.
              --version            Show the version.

        Normally started by systemd (deploy/systemd/opsd.service). For a try-out, run it in the
        foreground: `opsd --config examples/demo/ops.yaml`, then in another terminal
        `opsctl --config examples/demo/ops.yaml status`.

        Signals: SIGTERM or SIGINT stop it gracefully; SIGHUP reloads the configuration (a file with
        errors is rejected and the running configuration stays in force).

        Exit status: 0 after a clean stop, 78 when the configuration is invalid (check it with
        `opsctl config check`), 64 for a wrong command line, 1 on any other start-up failure.
        """

    /// What the command line asks for.
    enum Parsed: Equatable {
        case run(OpsdOptions)
        case help
        case version
        /// A usage error, in one sentence.
        case invalid(String)
    }

    /// Parses `arguments` (without the program name); `environment` gives the defaults.
    static func parse(_ arguments: [String], environment: [String: String]) -> Parsed {
        var options = OpsdOptions(config: environment["OPS_CONFIG"] ?? ConfigLoader.defaultPath, logOutput: nil)
        var format = "auto"
        var rest = arguments[...]
        while let argument = rest.popFirst() {
            // `--name=value` and `--name value` both work, as in most tools.
            let (name, inline) = argument.hasPrefix("--") && argument.contains("=")
                ? (String(argument.prefix { $0 != "=" }), String(argument.drop { $0 != "=" }.dropFirst()))
                : (argument, nil)
            switch name {
            case "-h", "--help": return .help
            case "--version": return .version
            case "-c", "--config", "--log-format":
                guard let value = inline ?? rest.popFirst(), !value.isEmpty else { return .invalid("\(name) needs a value; see opsd --help") }
                if name == "--log-format" { format = value } else { options.config = value }
            default:
                return .invalid("unknown argument \(argument); see opsd --help")
            }
        }
        if format != "auto" {
            guard let output = LogOutput(rawValue: format) else {
                return .invalid("--log-format must be auto, journal, json or human, not \"\(format)\"")
            }
            options.logOutput = output
        }
        return .run(options)
    }
}
