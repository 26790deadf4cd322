import ArgumentParser
import Foundation
import OpsConfig

/// `opsctl backup` and `opsctl restore`, in an executable of their own.
///
/// opsctl execs this program for those two commands (see opsctl's CompanionCommands.swift), so
/// `opsctl status` and the rest never load libgit2, libssh2 and their TLS libraries. It is named
/// `opsctl` in help and messages: users only ever type `opsctl backup …`.
@main
struct OpsctlBackup: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "opsctl",
        abstract: "Back up and restore the configured databases and files (run as `opsctl backup` and `opsctl restore`).",
        subcommands: [BackupCommand.self, RestoreCommand.self]
    )
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
