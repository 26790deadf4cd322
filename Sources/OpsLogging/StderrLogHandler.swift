#if canImport(Glibc)
import Glibc
#endif
public import Logging

/// A swift-log handler for stderr when it is not the journal: JSON lines or a human format.
///
/// Each record is written with a single `write(2)`, so lines from concurrent tasks never
/// interleave, and a reader (`jq`, a log shipper) always sees whole objects.
public struct StderrLogHandler: LogHandler {
    /// The line format.
    public enum Format: Sendable {
        /// `{"time":…,"level":…,"message":…,"fields":{…}}`
        case json
        /// `08:00:01.123 info  message key=value`
        case human
        /// `<4>message key=value`: stderr is the journal's stream, which stamps the time and reads
        /// the priority from the `<N>` prefix (sd-daemon(3)), so `journalctl -p warning` finds it.
        case journalStream
    }

    /// The line format of this handler.
    public let format: Format
    /// Metadata attached to every record of this logger.
    public var metadata: Logger.Metadata = [:]
    /// The lowest level written.
    public var logLevel: Logger.Level = .info
    private let fileDescriptor: Int32

    /// Creates a handler writing to `fileDescriptor` (stderr unless a test says otherwise).
    public init(format: Format, fileDescriptor: Int32 = 2) {
        self.format = format
        self.fileDescriptor = fileDescriptor
    }

    /// Reads or sets one metadata value of this logger.
    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    /// Writes one record as one line.
    public func log(event: LogEvent) {
        let fields = metadata.merging(event.metadata ?? [:]) { $1 }
            .map { ($0.key, Redaction.redact($0.value.flattened)) }
            .sorted { $0.0 < $1.0 }
        let message = Redaction.redact(event.message.description)
        let line: String
        switch format {
        case .json: line = Self.jsonLine(time: WallClock.now(), level: event.level, message: message, fields: fields)
        case .human: line = Self.humanLine(time: WallClock.now(), level: event.level, message: message, fields: fields)
        case .journalStream: line = Self.journalStreamLine(level: event.level, message: message, fields: fields)
        }
        // A progress line on the same terminal is cleared first; the next redraw puts it back.
        var bytes = Array(((fileDescriptor == STDERR_FILENO ? StderrLine.prefix : "") + line).utf8)
        bytes.append(UInt8(ascii: "\n"))
        WholeWrite.write(bytes, to: fileDescriptor)
    }

    /// One JSON object: `{"time":"…Z","level":"info","message":"…","fields":{…}}`.
    static func jsonLine(time: WallClock.Time, level: Logger.Level, message: String, fields: [(String, String)]) -> String {
        var line = #"{"time":"\#(time.iso8601)","level":"\#(level.rawValue)","message":"#
        JSONText.appendString(message, to: &line)
        line += #","fields":{"#
        for (index, (key, value)) in fields.enumerated() {
            if index > 0 { line += "," }
            JSONText.appendString(key, to: &line)
            line += ":"
            JSONText.appendString(value, to: &line)
        }
        line += "}}"
        return line
    }

    /// `08:00:01.123 info    message  key=value …`
    static func humanLine(time: WallClock.Time, level: Logger.Level, message: String, fields: [(String, String)]) -> String {
        "\(time.clockTime) \(level.rawValue.padding(toLength: 8))" + messageAndFields(message, fields)
    }

    /// `<4>message key=value …`
    static func journalStreamLine(level: Logger.Level, message: String, fields: [(String, String)]) -> String {
        "<\(level.syslogPriority)>" + messageAndFields(message, fields)
    }

    private static func messageAndFields(_ message: String, _ fields: [(String, String)]) -> String {
        var line = message
        for (key, value) in fields {
            line += " \(key)=" + (value.contains(" ") || value.isEmpty ? "\"\(value)\"" : value)
        }
        return line
    }
}

extension String {
    func padding(toLength length: Int) -> String {
        count >= length ? self + " " : self + String(repeating: " ", count: length - count)
    }
}

/// Minimal JSON string encoding for log lines (no Foundation on the logging hot path).
enum JSONText {
    static func appendString(_ text: String, to output: inout String) {
        output += "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": output += "\\\""
            case "\\": output += "\\\\"
            case "\n": output += "\\n"
            case "\r": output += "\\r"
            case "\t": output += "\\t"
            case _ where scalar.value < 0x20 || scalar.value == 0x7F:
                let hex = String(scalar.value, radix: 16)
                output += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: output.unicodeScalars.append(scalar)
            }
        }
        output += "\""
    }
}

/// UTC wall-clock time for log lines.
public enum WallClock {
    /// A point in time split into calendar fields.
    public struct Time: Sendable {
        var year, month, day, hour, minute, second, millisecond: Int

        /// `2026-11-24T08:00:01.123Z`
        public var iso8601: String {
            "\(pad(year, 4))-\(pad(month, 2))-\(pad(day, 2))T\(clockTime)Z"
        }

        /// `08:00:01.123`
        public var clockTime: String {
            "\(pad(hour, 2)):\(pad(minute, 2)):\(pad(second, 2)).\(pad(millisecond, 3))"
        }

        private func pad(_ value: Int, _ width: Int) -> String {
            let text = String(value)
            return text.count >= width ? text : String(repeating: "0", count: width - text.count) + text
        }
    }

    /// The current time.
    public static func now() -> Time {
        var spec = timespec()
        clock_gettime(CLOCK_REALTIME, &spec)
        var seconds = spec.tv_sec
        var parts = tm()
        gmtime_r(&seconds, &parts)
        return Time(
            year: Int(parts.tm_year) + 1900, month: Int(parts.tm_mon) + 1, day: Int(parts.tm_mday),
            hour: Int(parts.tm_hour), minute: Int(parts.tm_min), second: Int(parts.tm_sec),
            millisecond: Int(spec.tv_nsec / 1_000_000)
        )
    }
}

/// `write(2)` until every byte is out (short writes, EINTR); gives up silently on an error, as a
/// log line or progress line has nowhere else to go.
enum WholeWrite {
    static func write(_ bytes: [UInt8], to fileDescriptor: Int32) {
        bytes.withUnsafeBytes { buffer in
            guard let base = buffer.baseAddress else { return }
            var offset = 0
            while offset < buffer.count {
                let written = Glibc.write(fileDescriptor, base + offset, buffer.count - offset)
                if written < 0 && errno == EINTR { continue }
                if written <= 0 { return }
                offset += written
            }
        }
    }
}
