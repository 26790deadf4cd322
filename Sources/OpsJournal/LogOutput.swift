#if canImport(Glibc)
import Glibc
#endif
public import Logging
import OpsLogging

/// Where log records go, chosen once at start-up.
public enum LogOutput: String, Sendable, CaseIterable {
    /// journald's native protocol: MESSAGE, PRIORITY, CODE_* and OPS_* fields.
    case journal
    /// One JSON object per line on stderr (time, level, message, fields).
    case json
    /// A short human line on stderr, for a terminal.
    case human

    /// The output the environment asks for.
    ///
    /// An explicit `OPS_LOG_FORMAT` wins. Otherwise journald is used only when stderr *is* the
    /// journal stream: systemd sets `JOURNAL_STREAM=dev:inode` for it, and the variable is trusted
    /// only if it matches stderr, because a child started from such a service inherits the
    /// variable with its stderr redirected elsewhere. Otherwise the stderr format opsctl and its
    /// companion use too (`StderrLogHandler.Format.detect`): human on a terminal, else JSON lines.
    public static func detect(environment: [String: String]) -> LogOutput {
        if let explicit = environment["OPS_LOG_FORMAT"].flatMap(LogOutput.init(rawValue:)) { return explicit }
        if let stream = environment["JOURNAL_STREAM"], StderrLogHandler.stderrIsJournalStream(stream) { return .journal }
        return StderrLogHandler.Format.detect(environment: environment) == .human ? .human : .json
    }

    /// Bootstraps swift-log with this output. Call once, first thing in `main`.
    public func bootstrap(identifier: String, level: Logger.Level) {
        LoggingSystem.bootstrap { label in
            var handler = self.makeHandler(identifier: identifier, label: label)
            handler.logLevel = level
            return handler
        }
    }

    /// A handler for this output.
    public func makeHandler(identifier: String, label: String) -> any LogHandler {
        switch self {
        case .journal: JournalLogHandler(identifier: identifier)
        case .json: StderrLogHandler(format: .json)
        case .human: StderrLogHandler(format: .human)
        }
    }
}
