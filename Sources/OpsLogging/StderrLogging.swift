#if canImport(Glibc)
import Glibc
#endif
public import Logging

extension StderrLogHandler.Format {
    /// The stderr format the environment asks for: `OPS_LOG_FORMAT=json` or `human`, else the
    /// human format on a terminal and JSON lines anywhere else (a pipe, a file, opsd's relay,
    /// which turns a JSON line into fields of its own).
    /// `stderrIsTerminal` overrides the check of stderr.
    public static func detect(environment: [String: String], stderrIsTerminal: Bool? = nil) -> Self {
        switch environment["OPS_LOG_FORMAT"] {
        case "json": .json
        case "human": .human
        default: stderrIsTerminal ?? (isatty(STDERR_FILENO) == 1) ? .human : .json
        }
    }
}

extension StderrLogHandler {
    /// Bootstraps swift-log for a command-line program, opsctl and its companion alike, so both
    /// write one format: the one `Format.detect` picks from `OPS_LOG_FORMAT` and stderr, records
    /// from `level` up. Call once, before the first logger is made.
    public static func bootstrap(level: Logger.Level) {
        let variable = getenv("OPS_LOG_FORMAT").map { String(cString: $0) }
        let format = Format.detect(environment: variable.map { ["OPS_LOG_FORMAT": $0] } ?? [:])
        LoggingSystem.bootstrap { _ in
            var handler = StderrLogHandler(format: format)
            handler.logLevel = level
            return handler
        }
    }
}
