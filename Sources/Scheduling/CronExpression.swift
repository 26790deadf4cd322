/// A cron expression with Vixie/cronie semantics: five fields (minute hour day-of-month month
/// day-of-week), `*`, lists, ranges, steps, month and weekday names, day-of-week 0 or 7 for
/// Sunday, and the `@hourly`-style macros. `@reboot` is not a calendar; see ``Trigger``.
///
/// Day-of-month and day-of-week combine the way cron combines them: when both are restricted,
/// a day matches if *either* matches (`30 4 1,15 * 5` runs on the 1st, the 15th and every
/// Friday). "Restricted" follows Vixie's test, which looks at the first character: a field that
/// starts with `*` (so `*/2` too) is unrestricted, and then both fields must match.
public struct CronExpression: Sendable, Equatable, CustomStringConvertible {
    /// Allowed minutes, 0–59.
    public let minutes: Set<Int>
    /// Allowed hours, 0–23.
    public let hours: Set<Int>
    /// Allowed days of the month, 1–31.
    public let daysOfMonth: Set<Int>
    /// Allowed months, 1–12.
    public let months: Set<Int>
    /// Allowed days of the week, 0–6, Sunday = 0.
    public let daysOfWeek: Set<Int>
    /// Whether the day-of-month field was restricted (did not start with `*`).
    public let dayOfMonthRestricted: Bool
    /// Whether the day-of-week field was restricted (did not start with `*`).
    public let dayOfWeekRestricted: Bool
    /// Whether the hour field started with `*`: such jobs follow real time through daylight-saving
    /// changes (they run in both passes of a repeated hour), like Vixie cron's wildcard jobs.
    public let hourIsWildcard: Bool
    /// The text it was parsed from.
    public let source: String

    public var description: String { source }

    /// Parses `text`; throws a ``CronError`` that names the field and what it accepts.
    public init(_ text: String) throws(CronError) {
        let trimmed = text.split(whereSeparator: { $0 == " " || $0 == "\t" }).joined(separator: " ")
        let expanded: String
        if trimmed.hasPrefix("@") {
            switch trimmed.lowercased() {
            case "@yearly", "@annually": expanded = "0 0 1 1 *"
            case "@monthly": expanded = "0 0 1 * *"
            case "@weekly": expanded = "0 0 * * 0"
            case "@daily", "@midnight": expanded = "0 0 * * *"
            case "@hourly": expanded = "0 * * * *"
            case "@reboot": throw CronError(text: text, reason: "@reboot is not a calendar time; use it as a job's `schedule`, not here")
            default:
                throw CronError(text: text, reason: "unknown macro \(trimmed); use @hourly, @daily, @weekly, @monthly, @yearly or @reboot")
            }
        } else {
            expanded = trimmed
        }
        let fields = expanded.split(separator: " ").map(String.init)
        guard fields.count == 5 else {
            throw CronError(
                text: text,
                reason: "a cron expression has 5 fields (minute hour day-of-month month day-of-week), this has \(fields.count)")
        }
        minutes = try Self.field(fields[0], "minute", 0...59, names: [:], text: text)
        hours = try Self.field(fields[1], "hour", 0...23, names: [:], text: text)
        daysOfMonth = try Self.field(fields[2], "day-of-month", 1...31, names: [:], text: text)
        months = try Self.field(fields[3], "month", 1...12, names: Self.monthNames, text: text)
        // 7 is Sunday as well; fold it onto 0 after parsing so `5-7` works.
        let weekdays = try Self.field(fields[4], "day-of-week", 0...7, names: Self.weekdayNames, text: text)
        daysOfWeek = Set(weekdays.map { $0 % 7 })
        dayOfMonthRestricted = !fields[2].hasPrefix("*")
        dayOfWeekRestricted = !fields[4].hasPrefix("*")
        hourIsWildcard = fields[1].hasPrefix("*")
        source = trimmed

        // With day-of-week unrestricted only day-of-month decides: `0 0 30 2 *` would never fire.
        if !dayOfWeekRestricted, dayOfMonthRestricted, !Self.anyMonthHas(days: daysOfMonth, months: months) {
            throw CronError(text: text, reason: "it never fires: no month in the month field has a day listed in day-of-month")
        }
    }

    /// Whether a day (wall-clock date) matches the day-of-month/day-of-week/month fields.
    public func matchesDay(month: Int, day: Int, weekday: Int) -> Bool {
        guard months.contains(month) else { return false }
        let domMatch = daysOfMonth.contains(day)
        let dowMatch = daysOfWeek.contains(weekday)
        if dayOfMonthRestricted && dayOfWeekRestricted { return domMatch || dowMatch }
        return domMatch && dowMatch
    }

    private static let monthNames = [
        "jan": 1, "feb": 2, "mar": 3, "apr": 4, "may": 5, "jun": 6,
        "jul": 7, "aug": 8, "sep": 9, "oct": 10, "nov": 11, "dec": 12,
    ]
    private static let weekdayNames = ["sun": 0, "mon": 1, "tue": 2, "wed": 3, "thu": 4, "fri": 5, "sat": 6]

    private static func anyMonthHas(days: Set<Int>, months: Set<Int>) -> Bool {
        let longest = [1: 31, 2: 29, 3: 31, 4: 30, 5: 31, 6: 30, 7: 31, 8: 31, 9: 30, 10: 31, 11: 30, 12: 31]
        return months.contains { month in days.contains { $0 <= longest[month, default: 31] } }
    }

    private static func field(
        _ text: String, _ name: String, _ bounds: ClosedRange<Int>, names: [String: Int], text whole: String
    ) throws(CronError) -> Set<Int> {
        var values = Set<Int>()
        for part in text.split(separator: ",", omittingEmptySubsequences: false) {
            let pieces = part.split(separator: "/", omittingEmptySubsequences: false)
            guard pieces.count <= 2, let rangeText = pieces.first, !rangeText.isEmpty else {
                throw fieldError(whole, name, part, bounds, names)
            }
            var step = 1
            if pieces.count == 2 {
                guard let parsed = Int(pieces[1]), parsed > 0 else {
                    throw CronError(text: whole, reason: "the \(name) step `/\(pieces[1])` must be a positive number")
                }
                step = parsed
            }
            let low: Int
            let high: Int
            if rangeText == "*" {
                (low, high) = (bounds.lowerBound, bounds.upperBound)
            } else {
                let ends = rangeText.split(separator: "-", omittingEmptySubsequences: false)
                guard ends.count <= 2, let first = value(ends[0], names), bounds.contains(first) else {
                    throw fieldError(whole, name, part, bounds, names)
                }
                if ends.count == 2 {
                    guard let last = value(ends[1], names), bounds.contains(last) else {
                        throw fieldError(whole, name, part, bounds, names)
                    }
                    guard first <= last else {
                        throw CronError(text: whole, reason: "the \(name) range \(rangeText) runs backwards; write the smaller end first")
                    }
                    (low, high) = (first, last)
                } else {
                    // `5/15` means "from 5 to the end, every 15", as in cronie.
                    (low, high) = (first, pieces.count == 2 ? bounds.upperBound : first)
                }
            }
            values.formUnion(stride(from: low, through: high, by: step))
        }
        return values
    }

    private static func value(_ text: Substring, _ names: [String: Int]) -> Int? {
        if let number = Int(text) { return number }
        return names[text.lowercased()]
    }

    private static func fieldError(
        _ whole: String, _ name: String, _ part: Substring, _ bounds: ClosedRange<Int>, _ names: [String: Int]
    ) -> CronError {
        var accepted = "\(bounds.lowerBound)-\(bounds.upperBound)"
        if name == "month" { accepted += " or jan-dec" }
        if name == "day-of-week" { accepted += " (0 and 7 are Sunday) or sun-sat" }
        return CronError(text: whole, reason: "the \(name) field has `\(part)`; it accepts *, numbers \(accepted), lists a,b, ranges a-b and steps */n")
    }
}

/// A cron expression that cannot be used, with the reason in one sentence.
public struct CronError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The expression as written.
    public var text: String
    /// What is wrong and what is accepted.
    public var reason: String
    public var description: String { "invalid cron expression \"\(text)\": \(reason)" }
}
