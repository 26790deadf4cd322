public import Foundation

/// ISO-8601 timestamps with the zone's offset (`2026-03-29T03:00:00+02:00`), the form
/// `opsctl` prints and accepts, so a reader sees both the wall clock and the instant.
public enum ISOTime {
    /// Formats `date` in `zone`, whole seconds, with a numeric offset (`Z` for UTC).
    public static func format(_ date: Date, in zone: TimeZone) -> String {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime]
        formatter.timeZone = zone
        return formatter.string(from: date)
    }

    /// Parses `2026-03-29T02:30:00+01:00`, `…Z`, or a wall time without an offset
    /// (`2026-03-29T02:30`, `2026-03-29 02:30:00`, `2026-03-29`), which is read in `zone`.
    public static func parse(_ text: String, zone: TimeZone) -> Date? {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        let full = ISO8601DateFormatter()
        full.formatOptions = [.withInternetDateTime]
        if let date = full.date(from: trimmed) { return date }
        for pattern in ["yyyy-MM-dd'T'HH:mm:ss", "yyyy-MM-dd'T'HH:mm", "yyyy-MM-dd HH:mm:ss", "yyyy-MM-dd HH:mm", "yyyy-MM-dd"] {
            let formatter = DateFormatter()
            formatter.locale = Locale(identifier: "en_US_POSIX")
            formatter.timeZone = zone
            formatter.dateFormat = pattern
            if let date = formatter.date(from: trimmed) { return date }
        }
        return nil
    }
}
