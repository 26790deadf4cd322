public import FoundationEssentials

/// ISO-8601 timestamps with the zone's offset (`2026-03-29T03:00:00+02:00`), the form
/// `opsctl` prints and accepts, so a reader sees both the wall clock and the instant.
///
/// Dates are proleptic Gregorian. (Foundation's formatters switched to the Julian calendar
/// before 15 October 1582; nothing here schedules that far back.)
public enum ISOTime {
    /// Formats `date` in `zone`: whole seconds (rounded down), then the offset as `+02:00`, or
    /// `Z` when it is zero. An offset with seconds, such as Berlin's local mean time before 1893,
    /// prints them: `+00:53:28`. This is what Foundation's `ISO8601DateFormatter` printed with
    /// `.withInternetDateTime`.
    public static func format(_ date: Date, in zone: Zone) -> String {
        let instant = Int64(date.timeIntervalSince1970.rounded(.down))
        let offset = zone.offset(at: instant)
        let wall = instant + Int64(offset)
        let day = floorDiv(wall, 86400)
        let (year, month, dayOfMonth) = civil(fromDays: day)
        let second = Int(wall - day * 86400)
        return "\(digits(year, 4))-\(digits(month, 2))-\(digits(dayOfMonth, 2))"
            + "T\(digits(second / 3600, 2)):\(digits(second / 60 % 60, 2)):\(digits(second % 60, 2))"
            + offsetText(offset)
    }

    /// Parses a timestamp, after trimming spaces and tabs. Two shapes:
    ///
    /// - An instant: `2026-03-29T02:30:00+01:00`, with the offset also as `Z`, `z`, `+0100`,
    ///   `+01` or `+00:53:28`.
    /// - A wall time read in `zone`: `2026-03-29T02:30:00`, `2026-03-29T02:30`,
    ///   `2026-03-29 02:30:00`, `2026-03-29 02:30` or `2026-03-29` (midnight).
    ///
    /// Fields have exactly their ISO widths (four-digit year, two-digit others) and must make a
    /// real date and time: no month 13, 30 February, hour 24 or second 60.
    ///
    /// Wall times around a daylight-saving change behave as Foundation's `DateFormatter` did:
    /// - **Skipped** (spring forward: 02:30 on 29 March 2026 in Berlin never happens): nil.
    ///   Guessing an instant for a time that never showed on a clock would hide a typo; an
    ///   operator who means the change can write the offset.
    /// - **Repeated** (fall back: 02:30 on 25 October 2026 in Berlin happens twice): the later
    ///   of the two instants, the second pass (`02:30:00+01:00`).
    public static func parse(_ text: String, zone: Zone) -> Date? {
        var scanner = TextScanner(text.trimmingWhitespace())
        guard let year = scanner.number(digits: 4...4), year >= 1, scanner.skip("-"),
            let month = scanner.number(digits: 2...2), (1...12).contains(month), scanner.skip("-"),
            let day = scanner.number(digits: 2...2), (1...daysInMonth(year, month)).contains(day)
        else { return nil }
        var wall = days(fromCivil: year, month, day) * 86400
        if !scanner.isAtEnd {
            let isFullForm = scanner.skip("T")
            guard isFullForm || scanner.skip(" "),
                let hour = scanner.number(digits: 2...2), hour < 24, scanner.skip(":"),
                let minute = scanner.number(digits: 2...2), minute < 60
            else { return nil }
            wall += Int64(hour * 3600 + minute * 60)
            var hasSeconds = false
            if scanner.skip(":") {
                guard let second = scanner.number(digits: 2...2), second < 60 else { return nil }
                wall += Int64(second)
                hasSeconds = true
            }
            if !scanner.isAtEnd {
                // An offset belongs only to the full RFC 3339 form: `T` and seconds.
                guard isFullForm, hasSeconds, let offset = offset(&scanner), scanner.isAtEnd else { return nil }
                return Date(timeIntervalSince1970: TimeInterval(wall - Int64(offset)))
            }
        }
        guard let instants = zone.instants(forWall: wall) else { return nil }
        return Date(timeIntervalSince1970: TimeInterval(instants.latest))
    }

    /// `Z`, `z`, or `±hh`, `±hhmm`, `±hh:mm`, `±hh:mm:ss`, in seconds east of UTC.
    private static func offset(_ scanner: inout TextScanner) -> Int? {
        if scanner.skip("Z") || scanner.skip("z") { return 0 }
        let sign: Int
        if scanner.skip("+") { sign = 1 } else if scanner.skip("-") { sign = -1 } else { return nil }
        guard let hours = scanner.number(digits: 2...2), hours < 24 else { return nil }
        var seconds = hours * 3600
        if scanner.skip(":") {
            guard let minutes = scanner.number(digits: 2...2), minutes < 60 else { return nil }
            seconds += minutes * 60
            if scanner.skip(":") {
                guard let extra = scanner.number(digits: 2...2), extra < 60 else { return nil }
                seconds += extra
            }
        } else if let minutes = scanner.number(digits: 2...2) {
            guard minutes < 60 else { return nil }
            seconds += minutes * 60
        }
        return sign * seconds
    }

    /// `Z`, or `+hh:mm` with `:ss` only when the offset has seconds.
    private static func offsetText(_ offset: Int) -> String {
        guard offset != 0 else { return "Z" }
        let size = abs(offset)
        let text = "\(offset < 0 ? "-" : "+")\(digits(size / 3600, 2)):\(digits(size / 60 % 60, 2))"
        return size % 60 == 0 ? text : "\(text):\(digits(size % 60, 2))"
    }

    /// `value` in decimal, zero-padded to at least `width` digits.
    private static func digits(_ value: Int, _ width: Int) -> String {
        let text = String(value.magnitude)
        let padded = String(repeating: "0", count: max(0, width - text.count)) + text
        return value < 0 ? "-" + padded : padded
    }
}
