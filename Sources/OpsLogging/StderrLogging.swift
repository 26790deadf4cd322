#if canImport(Glibc)
import Glibc
#endif
public import Logging

extension StderrLogHandler.Format {
    /// The stderr format the environment asks for: `OPS_LOG_FORMAT=json` or `human`; else, when
    /// stderr is the journal's stream (a unit's `ExecStart=`, such as opsd-backup.service), the
    /// line journald reads a priority from; else the human format on a terminal and JSON lines
    /// anywhere else (a pipe, a file, opsd's relay, which turns a JSON line into fields of its own).
    /// `stderrIsTerminal` overrides the check of stderr.
    public static func detect(environment: [String: String], stderrIsTerminal: Bool? = nil) -> Self {
        switch environment["OPS_LOG_FORMAT"] {
        case "json": return .json
        case "human": return .human
        default: break
        }
        if let stream = environment["JOURNAL_STREAM"], StderrLogHandler.stderrIsJournalStream(stream) { return .journalStream }
        return stderrIsTerminal ?? (isatty(STDERR_FILENO) == 1) ? .human : .json
    }
}

extension StderrLogHandler {
    /// Bootstraps swift-log for a command-line program, opsctl and its companion alike, so both
    /// write one format: the one `Format.detect` picks from `OPS_LOG_FORMAT` and stderr, records
    /// from `level` up. Call once, before the first logger is made.
    public static func bootstrap(level: Logger.Level) {
        var environment: [String: String] = [:]
        for name in ["OPS_LOG_FORMAT", "JOURNAL_STREAM"] {
            if let value = getenv(name) { environment[name] = String(cString: value) }
        }
        let format = Format.detect(environment: environment)
        LoggingSystem.bootstrap { _ in
            var handler = StderrLogHandler(format: format)
            handler.logLevel = level
            return handler
        }
    }

    /// Whether stderr is the journal stream `JOURNAL_STREAM` (`device:inode`) names. systemd sets
    /// the variable for a unit's output, and a child started from such a service inherits it with
    /// its stderr redirected elsewhere, so it is trusted only when it matches stderr itself.
    public static func stderrIsJournalStream(_ value: String) -> Bool {
        let parts = value.split(separator: ":")
        guard parts.count == 2, let device = UInt64(parts[0]), let inode = UInt64(parts[1]) else { return false }
        var info = stat()
        guard fstat(STDERR_FILENO, &info) == 0 else { return false }
        return UInt64(info.st_dev) == device && UInt64(info.st_ino) == inode
    }
}

extension Logger.Level {
    /// The syslog priority journald expects (0 emerg … 7 debug).
    public var syslogPriority: Int {
        switch self {
        case .trace, .debug: 7
        case .info: 6
        case .notice: 5
        case .warning: 4
        case .error: 3
        case .critical: 2
        }
    }
}
