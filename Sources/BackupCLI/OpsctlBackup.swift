public import ArgumentParser
public import Backup
import Foundation
import OpsConfig
import Synchronization

/// `opsctl backup` and `opsctl restore`, in an executable of their own.
///
/// opsctl execs this program for those two commands (see opsctl's CompanionCommands.swift), so
/// `opsctl status` and the rest never load libgit2, libssh2 and their TLS libraries. It is named
/// `opsctl` in help and messages: users only ever type `opsctl backup …`.
///
/// A library, so that two programs run the same commands: `opsctl-backup`, which observes
/// nothing, and the test kit's companion (`Tests/opsctl-backup-testkit`), which stops at a
/// `BackupStep` for a test to kill it there.
public struct OpsctlBackup: AsyncParsableCommand {
    /// The command's name, help and subcommands.
    public static let configuration = CommandConfiguration(
        commandName: "opsctl",
        abstract: "Back up and restore the configured databases and files (run as `opsctl backup` and `opsctl restore`).",
        subcommands: [BackupCommand.self, RestoreCommand.self]
    )

    /// Parsed from the command line.
    public init() {}

    /// Runs the command line, with `observer` hearing each step of the backup or restore; exits
    /// the process with the command's status.
    public static func main(observing observer: BackupStepObserver?) async {
        Self.observer.withLock { $0 = observer }
        await main()
    }

    /// Set once by `main(observing:)` before any command is parsed; read by `BackupContext`.
    static let observer = Mutex<BackupStepObserver?>(nil)
}

/// `--config`: the file with the `backup:` section. opsctl passes a `--config` given before the
/// command name through `OPS_CONFIG`.
struct ConfigOptions: ParsableArguments {
    @Option(name: .shortAndLong, help: ArgumentHelp("The configuration file (default: $OPS_CONFIG, or \(ConfigLoader.defaultPath)).", valueName: "path"))
    var config: String?

    /// --config, else $OPS_CONFIG, else the default.
    var configPath: String {
        config ?? ProcessInfo.processInfo.environment["OPS_CONFIG"] ?? ConfigLoader.defaultPath
    }
}

/// A failure reported as one line on stderr (`opsctl: …`), exit status 1.
struct Failure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// Runs a command body, turning a `Failure` into one line on stderr and exit status 1.
func reportingFailures(_ body: () async throws -> Void) async throws {
    do {
        try await body()
    } catch let failure as Failure {
        FileHandle.standardError.write(Data("opsctl: \(failure.description)\n".utf8))
        throw ExitCode.failure
    }
}
