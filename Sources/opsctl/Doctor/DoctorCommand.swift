import ProcessControl

/// Runs one of the system's tools (systemctl, systemd-analyze, timedatectl…) for a check, the way
/// opsctl runs any command: through `CommandRunner`, nothing linked.
enum DoctorCommand {
    /// The tool's exit code and its stdout and stderr together; nil when it could not be started
    /// (not installed) or was killed by a signal.
    static func run(_ arguments: [String]) async -> (code: Int32, output: String)? {
        guard let outcome = try? await CommandRunner(spawner: DirectSpawner()).run(arguments),
              case .exited(let code) = outcome.status, code != 127 else { return nil }
        return (code, outcome.output)
    }

    /// The first non-empty line of `output`, to quote a tool in one sentence.
    static func firstLine(_ output: String) -> String {
        output.split(separator: "\n").first { !$0.allSatisfy(\.isWhitespace) }.map(String.init) ?? "no message"
    }
}
