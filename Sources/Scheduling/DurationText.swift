// Durations as the config and opsctl write them. Lives with the triggers because `every: 2h`
// and a cron expression are the two halves of one schedule language.

/// A duration written as one or more number+unit pairs: `500ms`, `30s`, `10m`, `2h`, `1d`, `1h30m`.
public enum DurationText {
    private static let units: [(suffix: String, nanoseconds: Double)] = [
        ("ms", 1e6), ("s", 1e9), ("m", 60e9), ("h", 3600e9), ("d", 86400e9),
    ]

    /// Parses `text`; a bare number is refused, because `every: 60` could mean seconds or minutes.
    public static func parse(_ text: String) -> Duration? {
        var rest = text.trimmingWhitespaceAndNewlines()
        guard !rest.isEmpty else { return nil }
        var total = 0.0
        while !rest.isEmpty {
            let number = rest.prefix { $0.isNumber || $0 == "." }
            guard !number.isEmpty, let value = Double(number) else { return nil }
            rest = rest.dropFirst(number.count)
            let unit = rest.prefix { $0.isLetter }
            guard let scale = units.first(where: { $0.suffix == unit })?.nanoseconds else { return nil }
            rest = rest.dropFirst(unit.count)
            total += value * scale
        }
        guard total > 0, total < 1e18 else { return nil }
        return .nanoseconds(Int64(total.rounded()))
    }

    /// Formats a duration the way the config writes it: `1h30m`, `45s`, `250ms`.
    public static func format(_ duration: Duration) -> String {
        let totalMilliseconds = duration.components.seconds * 1000 + duration.components.attoseconds / 1_000_000_000_000_000
        if totalMilliseconds < 1000 { return "\(totalMilliseconds)ms" }
        var seconds = totalMilliseconds / 1000
        var text = ""
        for (unit, size) in [("d", Int64(86400)), ("h", 3600), ("m", 60)] where seconds >= size {
            text += "\(seconds / size)\(unit)"
            seconds %= size
        }
        if seconds > 0 || text.isEmpty { text += "\(seconds)s" }
        return text
    }
}
