import ArgumentParser
import FoundationEssentials
import Glibc
import ProcessControl

/// `opsctl backup` and `opsctl restore` are carried out by a companion executable,
/// `opsctl-backup`, installed beside opsctl: backups need libgit2, libssh2 and their TLS
/// libraries, and loading those on every opsctl run cost 4.8 ms (measured), a tax `opsctl status`
/// should not pay. These entries replace opsctl with the companion (execve: same pid, same
/// terminal, same exit status), passing every argument through; help comes from the companion.
extension Companion {
    /// Replaces this process with `opsctl-backup <command> <arguments>`; returns only on failure.
    static func exec(_ command: String, _ arguments: [String]) throws -> Never {
        let path = path(of: backup)
        if let config = configBefore(command, in: CommandLine.arguments) { setenv("OPS_CONFIG", config, 1) }
        let argv = ([path, command] + arguments).map { strdup($0) } + [nil]
        execv(path, argv)
        let reason = String(cString: strerror(errno))
        throw Failure("cannot run \(path) (\(reason)); it carries out `opsctl \(command)` and is installed beside opsctl, so reinstall opsd")
    }

    /// A `--config` given before the command name (`opsctl --config X backup`): opsctl's own
    /// parser consumed it, so it is passed on through OPS_CONFIG.
    static func configBefore(_ command: String, in arguments: [String]) -> String? {
        var config: String?
        var index = 1
        while index < arguments.count, arguments[index] != command {
            let argument = arguments[index]
            if argument == "--config" || argument == "-c", index + 1 < arguments.count {
                config = arguments[index + 1]
                index += 1
            } else if argument.hasPrefix("--config=") {
                config = String(argument.dropFirst("--config=".count))
            }
            index += 1
        }
        return config
    }
}

struct BackupCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "backup",
        abstract: "Back up the configured databases and files to git now, or list the backups (`opsctl backup --help`).",
        helpNames: []
    )

    @Argument(parsing: .captureForPassthrough, help: ArgumentHelp("Passed whole to opsctl-backup, which carries the command out; see its --help.", valueName: "arguments"), completion: CompanionCompletion.arguments)
    var arguments: [String] = []

    func run() async throws {
        try await reportingFailures { try Companion.exec("backup", arguments) }
    }
}

struct RestoreCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "restore",
        abstract: "Restore databases from a backup, verified before anything is replaced (`opsctl restore --help`).",
        helpNames: []
    )

    @Argument(parsing: .captureForPassthrough, help: ArgumentHelp("Passed whole to opsctl-backup, which carries the command out; see its --help.", valueName: "arguments"), completion: CompanionCompletion.arguments)
    var arguments: [String] = []

    func run() async throws {
        try await reportingFailures { try Companion.exec("restore", arguments) }
    }
}
