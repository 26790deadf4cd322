import FoundationEssentials
import Glibc
import OpsConfig
import Scheduling
public import ProcessControl

/// Any Nagios / monitoring-plugins plugin: its exit code is the state (0 OK, 1 WARNING,
/// 2 CRITICAL, anything else UNKNOWN), its first line the message, and the performance data after
/// `|` (on the first line or in the long output) is kept. The first performance value is the
/// primary value, so `warn`/`crit` can tighten what the plugin itself says.
public struct CommandCheck: Check {
    /// The plugin and its arguments.
    public let arguments: [String]
    /// The plugin's working directory; nil: opsd's.
    public let workingDirectory: String?
    let runner: CommandRunner

    /// Creates a command check.
    public init(arguments: [String], workingDirectory: String? = nil, runner: CommandRunner) {
        self.arguments = arguments
        self.workingDirectory = workingDirectory
        self.runner = runner
    }

    public func observe(deadline: ContinuousClock.Instant) async throws -> Observation {
        let outcome = try await runner.run(arguments, workingDirectory: workingDirectory)
        var observation = Self.parse(outcome.output)
        switch outcome.status {
        case .exited(let code):
            observation.state = CheckState(exitCode: code)
            if code > 3 { observation.summary = "\(arguments[0]) exited \(code): " + observation.summary }
        case .signaled:
            observation.state = .unknown
            observation.summary = "\(arguments[0]) ended by \(outcome.status): " + observation.summary
        }
        return observation
    }

    /// Splits plugin output into its message and performance data.
    static func parse(_ output: String) -> Observation {
        let lines = output.split(separator: "\n", omittingEmptySubsequences: false)
        let first = lines.first.map(String.init) ?? ""
        var text = first, perfText = ""
        if let bar = first.firstIndex(of: "|") {
            text = String(first[..<bar])
            perfText = String(first[first.index(after: bar)...])
        }
        // Long output: performance data may continue after the first `|` in the following lines.
        let rest = lines.dropFirst().joined(separator: "\n")
        if let bar = rest.firstIndex(of: "|") { perfText += " " + rest[rest.index(after: bar)...] }
        let metrics = PerfDatum.parseAll(perfText)
        let summary = text.trimmingWhitespace()
        let printable = String(summary.unicodeScalars.filter { $0.value >= 0x20 && $0.value != 0x7f }.prefix(300).map(Character.init))
        return Observation(
            value: metrics.first?.value, unit: metrics.first.map { $0.unit.isEmpty ? "" : $0.unit },
            summary: printable.isEmpty ? "(no output)" : printable, metrics: metrics
        )
    }
}
