import Scheduling
// The small value languages of the config file: durations (`30s`, `1h30m`), percentages (`80%`),
// sizes (`512MiB`), ranges (`1s..60s`) and burst limits (`5 in 60s`). Each parser returns nil for
// text it does not accept; the loader turns that into a message that shows the accepted forms.

/// A warn/crit level in the Nagios plugin range syntax, optionally in percent.
///
/// `[@]start:end` alerts when the value lies *outside* start…end (both ends inclusive); a leading
/// `@` alerts when it lies *inside*. `N` means `0:N` (alert above N), `N:` has no upper end, and
/// `~` as the start means minus infinity. So `80%` alerts above 80 %, `10:` below 10, `~:50` above
/// 50, and `@10:20` from 10 to 20. Using the plugins' own syntax lets a threshold be copied to or
/// from `check_disk`, `check_http` and friends unchanged.
public struct Threshold: Sendable, Equatable, CustomStringConvertible {
    /// The lowest value that does not alert (minus infinity for `~`).
    public var start: Double
    /// The highest value that does not alert (plus infinity when not given).
    public var end: Double
    /// `@`: alert when the value is inside start…end instead of outside.
    public var alertsInside: Bool
    /// Whether the numbers are percentages (written with a trailing `%`).
    public var isPercent: Bool

    /// Creates a threshold; callers guarantee `start <= end`.
    public init(start: Double, end: Double, alertsInside: Bool = false, isPercent: Bool = false) {
        self.start = start
        self.end = end
        self.alertsInside = alertsInside
        self.isPercent = isPercent
    }

    /// `N`: alert when the value is above `value` (or below zero).
    public static func number(_ value: Double) -> Threshold {
        Threshold(start: 0, end: value)
    }

    /// `N%`: alert when the percentage is above `value`.
    public static func percent(_ value: Double) -> Threshold {
        Threshold(start: 0, end: value, isPercent: true)
    }

    /// Parses `80%`, `100`, `0.5`, `10:`, `~:50`, `10:20`, `@10:20`, `@~:5%`.
    public static func parse(_ text: String) -> Threshold? {
        var rest = Substring(text.trimmingWhitespaceAndNewlines())
        let inside = rest.hasPrefix("@")
        if inside { rest = rest.dropFirst() }
        let percent = rest.hasSuffix("%")
        if percent { rest = Substring(rest.dropLast().trimmingWhitespaceAndNewlines()) }
        guard !rest.isEmpty else { return nil }
        let start: Double, end: Double
        if let colon = rest.firstIndex(of: ":") {
            let low = rest[..<colon], high = rest[rest.index(after: colon)...]
            if low == "~" { start = -.infinity } else if low.isEmpty { start = 0 } else {
                guard let value = Double(low), value.isFinite else { return nil }
                start = value
            }
            if high.isEmpty { end = .infinity } else {
                guard let value = Double(high), value.isFinite else { return nil }
                end = value
            }
        } else {
            guard let value = Double(rest), value.isFinite else { return nil }
            (start, end) = (0, value)
        }
        guard start <= end else { return nil }
        if percent {
            // A percentage outside 0–100 is a typo, not a threshold that can never fire.
            let finite = [start, end].filter(\.isFinite)
            guard finite.allSatisfy({ (0...100).contains($0) }) else { return nil }
        }
        return Threshold(start: start, end: end, alertsInside: inside, isPercent: percent)
    }

    /// Whether `value` is in the alerting part of the range.
    public func alerts(on value: Double) -> Bool {
        let inRange = value >= start && value <= end
        return alertsInside ? inRange : !inRange
    }

    /// The threshold in the syntax the config and the plugins' perfdata use: `80%`, `10:`, `@10:20`.
    public var description: String {
        var text = alertsInside ? "@" : ""
        if start == 0, end.isFinite {
            text += Self.trim(end)
        } else {
            text += (start == -.infinity ? "~" : Self.trim(start)) + ":" + (end.isFinite ? Self.trim(end) : "")
        }
        return text + (isPercent ? "%" : "")
    }

    private static func trim(_ value: Double) -> String {
        value == value.rounded() && abs(value) < 1e15 ? String(Int64(value)) : String(value)
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


/// `512M`, `2G`, `1536MiB`, `4096`: a size in bytes. The suffixes K, M, G and T (with or without
/// `iB`) are powers of 1024, as in systemd's `MemoryMax=` and `LimitMEMLOCK=`.
public enum ByteSize {
    /// The number of bytes, or nil for text that is not a size (or does not fit 64 bits).
    public static func parse(_ text: String) -> UInt64? {
        var rest = Substring(text.trimmingWhitespaceAndNewlines())
        for suffix in ["iB", "B"] where rest.hasSuffix(suffix) && rest.count > suffix.count {
            rest = rest.dropLast(suffix.count)
            break
        }
        var multiplier: UInt64 = 1
        if let last = rest.last, let power = ["K": 1, "M": 2, "G": 3, "T": 4][last.uppercased()] {
            multiplier = 1 << (10 * UInt64(power))
            rest = rest.dropLast()
        } else if text.hasSuffix("iB") {
            return nil  // "iB" with no K, M, G or T before it
        }
        guard !rest.isEmpty, rest.allSatisfy(\.isASCII), let number = UInt64(rest) else { return nil }
        let (bytes, overflow) = number.multipliedReportingOverflow(by: multiplier)
        return overflow ? nil : bytes
    }

    /// `2G`, `1536M`, `4096`: the shortest exact form, for messages and docs.
    public static func format(_ bytes: UInt64) -> String {
        for (suffix, shift) in [("T", UInt64(40)), ("G", 30), ("M", 20), ("K", 10)] where bytes > 0 && bytes % (1 << shift) == 0 {
            return "\(bytes >> shift)\(suffix)"
        }
        return "\(bytes)"
    }
}
