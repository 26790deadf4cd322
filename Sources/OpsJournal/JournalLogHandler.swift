import CSystemd
#if canImport(Glibc)
import Glibc
#endif
public import Logging
import OpsLogging

/// A swift-log handler that writes each record to journald as one entry with structured fields.
///
/// Metadata keys become upper-case `OPS_` fields (`worker` → `OPS_WORKER`), so they can be queried
/// with `journalctl OPS_WORKER=app`. journald silently drops fields with invalid names, which is
/// why every key is sanitised here rather than passed through.
public struct JournalLogHandler: LogHandler {
    /// `SYSLOG_IDENTIFIER` of every entry.
    public let identifier: String
    /// Metadata attached to every record of this logger.
    public var metadata: Logger.Metadata = [:]
    /// The lowest level written.
    public var logLevel: Logger.Level = .info

    /// Creates a handler whose entries carry `SYSLOG_IDENTIFIER=identifier`.
    public init(identifier: String) {
        self.identifier = identifier
    }

    /// Reads or sets one metadata value of this logger.
    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    /// Sends one entry to journald.
    public func log(event: LogEvent) {
        sendToJournal(fields: Self.fields(
            identifier: identifier, level: event.level, message: event.message.description,
            metadata: metadata.merging(event.metadata ?? [:]) { $1 },
            file: event.file, function: event.function, line: event.line
        ))
    }

    /// The journal fields of one record, as `KEY=value` strings.
    static func fields(
        identifier: String, level: Logger.Level, message: String, metadata: Logger.Metadata,
        file: String, function: String, line: UInt
    ) -> [String] {
        var fields = [
            "MESSAGE=\(Redaction.redact(message))",
            "PRIORITY=\(level.syslogPriority)",
            "SYSLOG_IDENTIFIER=\(identifier)",
            "CODE_FILE=\(file)",
            "CODE_LINE=\(line)",
            "CODE_FUNC=\(function)",
        ]
        for (key, value) in metadata.sorted(by: { $0.key < $1.key }) {
            fields.append("\(journalFieldName(key))=\(Redaction.redact(value.flattened))")
        }
        return fields
    }

    /// `OPS_` + the key in upper case, with every character journald does not allow turned into `_`.
    static func journalFieldName(_ key: String) -> String {
        let body = key.uppercased().unicodeScalars.map { scalar -> Character in
            (scalar >= "A" && scalar <= "Z") || (scalar >= "0" && scalar <= "9") ? Character(scalar) : "_"
        }
        return String(("OPS_" + String(body)).prefix(64))
    }
}

/// Passes `KEY=value` fields to `sd_journal_sendv`, which frames values with newlines correctly.
func sendToJournal(fields: [String]) {
    // One contiguous buffer keeps every iovec's pointer valid for the duration of the call.
    var buffer: [UInt8] = []
    var ranges: [Range<Int>] = []
    for field in fields {
        let start = buffer.count
        buffer.append(contentsOf: field.utf8)
        ranges.append(start..<buffer.count)
    }
    buffer.withUnsafeMutableBytes { bytes in
        guard let base = bytes.baseAddress else { return }
        var vectors = ranges.map { iovec(iov_base: base + $0.lowerBound, iov_len: $0.count) }
        _ = sd_journal_sendv(&vectors, Int32(vectors.count))
    }
}
