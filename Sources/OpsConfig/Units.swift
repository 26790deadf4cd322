import Scheduling
// The small value languages of the config file: durations (`30s`, `1h30m`), percentages (`80%`),
// sizes (`512MiB`), ranges (`1s..60s`) and burst limits (`5 in 60s`). Each parser returns nil for
// text it does not accept; the loader turns that into a message that shows the accepted forms.

/// A warn/crit level: a plain number (a count, milliseconds, days) or a percentage.
public enum Threshold: Sendable, Equatable, CustomStringConvertible {
    /// A number in the check's own unit.
    case number(Double)
    /// A percentage, 0–100.
    case percent(Double)

    /// Parses `80%`, `80 %`, `100`, `0.5`.
    public static func parse(_ text: String) -> Threshold? {
        let trimmed = text.trimmingWhitespace()
        if trimmed.hasSuffix("%") {
            guard let value = Double(trimmed.dropLast().trimmingWhitespace()), (0...100).contains(value) else { return nil }
            return .percent(value)
        }
        guard let value = Double(trimmed), value.isFinite else { return nil }
        return .number(value)
    }

    /// The value as written in the config.
    public var description: String {
        switch self {
        case .number(let value): Self.trim(value)
        case .percent(let value): Self.trim(value) + "%"
        }
    }

    private static func trim(_ value: Double) -> String {
        value == value.rounded() && abs(value) < 1e15 ? String(Int64(value)) : String(value)
    }
}

/// A size in bytes: `512`, `64KiB`, `512MiB`, `1GiB`, `10MB` (powers of 1000 for kB/MB/GB).
public enum ByteSize {
    private static let units: [String: Double] = [
        "": 1, "B": 1,
        "KiB": 1024, "MiB": 1024 * 1024, "GiB": 1024 * 1024 * 1024, "TiB": 1024 * 1024 * 1024 * 1024,
        "kB": 1e3, "KB": 1e3, "MB": 1e6, "GB": 1e9, "TB": 1e12,
    ]

    /// Parses a size; nil for anything else.
    public static func parse(_ text: String) -> UInt64? {
        let trimmed = text.trimmingWhitespace()
        let number = trimmed.prefix { $0.isNumber || $0 == "." }
        let unit = trimmed.dropFirst(number.count).trimmingWhitespace()
        guard let value = Double(number), let scale = units[unit] else { return nil }
        let bytes = value * scale
        guard bytes >= 0, bytes < 1.8e19 else { return nil }
        return UInt64(bytes.rounded())
    }
}

/// `1s..60s`: the lower and upper bound of a growing delay.
public struct DurationRange: Sendable, Equatable, CustomStringConvertible {
    /// The first delay.
    public var lowerBound: Duration
    /// The largest delay.
    public var upperBound: Duration

    /// Creates a range; callers guarantee `lowerBound <= upperBound`.
    public init(lowerBound: Duration, upperBound: Duration) {
        self.lowerBound = lowerBound
        self.upperBound = upperBound
    }

    /// Parses `1s..60s`, or a single duration for a fixed delay.
    public static func parse(_ text: String) -> DurationRange? {
        let parts = text.components(separatedBy: "..")
        switch parts.count {
        case 1:
            guard let value = DurationText.parse(parts[0]) else { return nil }
            return DurationRange(lowerBound: value, upperBound: value)
        case 2:
            guard let low = DurationText.parse(parts[0]), let high = DurationText.parse(parts[1]), low <= high else { return nil }
            return DurationRange(lowerBound: low, upperBound: high)
        default:
            return nil
        }
    }

    /// `1s..1m`.
    public var description: String { "\(DurationText.format(lowerBound))..\(DurationText.format(upperBound))" }
}

/// `5 in 60s`: at most `count` starts within `window`.
public struct BurstLimit: Sendable, Equatable, CustomStringConvertible {
    /// How many starts are allowed within the window.
    public var count: Int
    /// The sliding window.
    public var window: Duration

    /// Creates a burst limit.
    public init(count: Int, window: Duration) {
        self.count = count
        self.window = window
    }

    /// Parses `5 in 60s`.
    public static func parse(_ text: String) -> BurstLimit? {
        let words = text.split(separator: " ", omittingEmptySubsequences: true)
        guard words.count == 3, words[1] == "in", let count = Int(words[0]), count > 0,
              let window = DurationText.parse(String(words[2])) else { return nil }
        return BurstLimit(count: count, window: window)
    }

    /// `5 in 1m`.
    public var description: String { "\(count) in \(DurationText.format(window))" }
}

extension StringProtocol {
    /// The text without leading and trailing spaces, tabs and newlines.
    func trimmingWhitespace() -> String {
        let isSpace: (Character) -> Bool = { $0 == " " || $0 == "\t" || $0 == "\n" || $0 == "\r" }
        guard let first = firstIndex(where: { !isSpace($0) }), let last = lastIndex(where: { !isSpace($0) }) else { return "" }
        return String(self[first...last])
    }
}
