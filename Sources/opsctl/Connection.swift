import ArgumentParser
import ControlPlane
import FoundationEssentials
import Glibc
import OpsAPI
import OpsConfig

/// Options shared by the commands that talk to opsd.
struct ConnectionOptions: ParsableArguments {
    @Option(name: .shortAndLong, help: ArgumentHelp("The configuration file (default: $OPS_CONFIG, or \(ConfigLoader.defaultPath)).", valueName: "path"))
    var config: String?

    @Option(help: ArgumentHelp("The control socket, overriding the configuration.", valueName: "path"))
    var socket: String?

    /// The config file to read: --config, else $OPS_CONFIG, else the default.
    var configPath: String {
        config ?? ProcessInfo.processInfo.environment["OPS_CONFIG"] ?? ConfigLoader.defaultPath
    }

    /// The socket to use. A config with errors elsewhere still names its socket, so opsctl can
    /// reach the daemon while the operator is fixing the file; it says so on stderr.
    func socketPath() throws -> String {
        if let socket { return socket }
        let result = ConfigLoader.read(path: configPath)
        let fileMissing = !FileManager.default.fileExists(atPath: result.path)
        if fileMissing, config == nil, ProcessInfo.processInfo.environment["OPS_CONFIG"] == nil {
            return DaemonSettings.defaultSocket
        }
        if fileMissing {
            throw Failure("\(result.path): no such file; pass --config PATH or --socket PATH")
        }
        if !result.diagnostics.isEmpty {
            printError("opsctl: note: \(result.path) has \(result.diagnostics.count) problem(s) (see `opsctl config check`); using its daemon.socket \(result.configuration.daemon.socket)")
        }
        return result.configuration.daemon.socket
    }

    func client(timeout: Duration = .seconds(30)) throws -> ControlClient {
        ControlClient(socketPath: try socketPath(), timeout: timeout)
    }
}

/// A failure that opsctl reports as one line on stderr, with an exit status.
struct Failure: Error, CustomStringConvertible {
    let description: String
    let exitCode: Int32

    init(_ description: String, exitCode: Int32 = 1) {
        self.description = description
        self.exitCode = exitCode
    }
}

func printError(_ message: String) {
    let line = Array((message + "\n").utf8)
    line.withUnsafeBytes { _ = write(STDERR_FILENO, $0.baseAddress, $0.count) }
}

/// Runs a command body, turning failures into one line on stderr and an exit status.
func reportingFailures(_ body: () async throws -> Void) async throws {
    do {
        try await body()
    } catch let failure as Failure {
        printError("opsctl: \(failure.description)")
        throw ExitCode(failure.exitCode)
    } catch let error as ControlClientError {
        printError("opsctl: \(error.description)")
        switch error {
        case .notRunning, .staleSocket: throw ExitCode(3)
        default: throw ExitCode.failure
        }
    }
}

extension ControlResponse {
    /// The body as `T` if the request succeeded; otherwise the daemon's error as a `Failure`.
    func decoded<T: Decodable>(_ type: T.Type) throws -> T {
        guard (200..<300).contains(status) else {
            let message = (try? decode(ErrorBody.self).error) ?? "opsd answered with status \(status)"
            throw Failure(message)
        }
        do {
            return try decode(type)
        } catch {
            throw Failure("opsd sent an answer this opsctl cannot read (\(error)); are opsd and opsctl the same version?")
        }
    }

    var jsonText: String { String(decoding: body, as: UTF8.self) }
}

/// `value` as opsctl prints JSON: the control API's one convention (`WireJSON`, docs/cli-json.md).
func jsonText<T: Encodable>(_ value: T) throws -> String {
    try WireJSON.text(value)
}

extension ControlClientError {
    /// True when no opsd answers at all, so commands that can work alone should.
    var isNotRunning: Bool {
        switch self {
        case .notRunning, .staleSocket: return true
        default: return false
        }
    }
}

/// `--config` and `--socket` of the commands that take a worker's, job's or check's name
/// (`workers start NAME`, `jobs run NAME`, `health NAME`).
///
/// opsctl's root reads these options anywhere on the line, except after a word that names a
/// command it passes through to the backup companion (`backup`, `restore`): what follows such a
/// word is the companion's. A worker, job or check may have that name (`backup.schedule` makes a
/// job called `backup`), and `jobs run backup --config X` then left `--config X` to a command that
/// inherits the root's `ConnectionOptions` instead of reading its own, so ArgumentParser refused it
/// ("Unknown option '--config'. Did you mean '--config'?"). This group is a type of its own, so
/// the command reads what the root left; what the root read it finds on the command line.
struct NamedConnection: ParsableArguments {
    @Option(name: .shortAndLong, help: ArgumentHelp("The configuration file (default: $OPS_CONFIG, or \(ConfigLoader.defaultPath)).", valueName: "path"))
    var config: String?

    @Option(help: ArgumentHelp("The control socket, overriding the configuration.", valueName: "path"))
    var socket: String?

    /// The connection: the options given after the name, else the last ones on the line.
    func resolved(from arguments: [String]) -> ConnectionOptions {
        var options = ConnectionOptions()
        options.config = config ?? Self.lastValue(of: ["--config", "-c"], in: arguments)
        options.socket = socket ?? Self.lastValue(of: ["--socket"], in: arguments)
        return options
    }

    /// The value of the last of `names` among `arguments` (`--name VALUE` or `--name=VALUE`),
    /// as ArgumentParser takes a repeated option: the last one wins.
    static func lastValue(of names: [String], in arguments: [String]) -> String? {
        var value: String?
        var index = 1
        while index < arguments.count {
            let argument = arguments[index]
            if argument == "--" { break }
            if names.contains(argument), index + 1 < arguments.count {
                value = arguments[index + 1]
                index += 1
            } else if let name = names.first(where: { $0.hasPrefix("--") && argument.hasPrefix($0 + "=") }) {
                value = String(argument.dropFirst(name.count + 1))
            }
            index += 1
        }
        return value
    }
}
