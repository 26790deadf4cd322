/// A POSIX TZ string such as `CET-1CEST,M3.5.0,M10.5.0/3`: a standard offset and, optionally, a
/// daylight-saving offset with the yearly rule for switching between them.
///
/// A TZif file ends with one of these (RFC 8536 §3.3); it decides every instant after the file's
/// last transition. Debian's files list transitions up to 2037, but "slim" files stop at the last
/// rule change, so the rule is not an afterthought: for a slim file it decides today's offset.
///
/// Accepted, as RFC 8536 describes it: names unquoted (`CET`, three or more letters) or quoted
/// (`<+0330>`); offsets `[+-]hh[:mm[:ss]]`, counted west of Greenwich as POSIX does (`CET-1` is
/// one hour *east*); dates `Jn` (1–365, 29 February never counted), `n` (0–365, counted) and
/// `Mm.w.d` (weekday d of week w of month m, week 5 = the last); and change times `/[+-]hh[:mm[:ss]]`
/// from -167 to 167 hours (the RFC's extension of POSIX's 0–24), default 02:00.
struct POSIXRule: Sendable, Equatable {
    /// Offset of standard time, seconds east of UTC.
    let standardOffset: Int
    /// Daylight-saving time and when it starts and ends each year; nil for a zone without it.
    let daylight: Daylight?

    /// Daylight-saving time: its offset and its yearly start and end.
    struct Daylight: Sendable, Equatable {
        /// Seconds east of UTC while daylight-saving time is in effect.
        let offset: Int
        /// When daylight-saving time starts, in local standard time.
        let start: Change
        /// When it ends, in local daylight-saving time.
        let end: Change
    }

    /// One yearly change: a day of the year and a local time on it.
    struct Change: Sendable, Equatable {
        let day: Day
        /// Seconds after the local midnight that starts `day`; may be negative or beyond 24 hours.
        let time: Int
    }

    /// The three ways POSIX names a day of the year.
    enum Day: Sendable, Equatable {
        /// `Jn`: day 1–365, 29 February never counted, so `J60` is always 1 March.
        case julian(Int)
        /// `n`: day 0–365 counting 29 February, so `59` is 29 February in a leap year.
        case zeroBased(Int)
        /// `Mm.w.d`: weekday (0 = Sunday) of week 1–5 of month 1–12; week 5 is the last.
        case monthWeekDay(month: Int, week: Int, weekday: Int)
    }

    init(standardOffset: Int, daylight: Daylight?) {
        self.standardOffset = standardOffset
        self.daylight = daylight
    }

    /// Parses a TZ string; nil unless all of it is well formed.
    init?(_ text: some StringProtocol) {
        var scanner = TextScanner(text)
        guard Self.skipName(&scanner), let standard = Self.clock(&scanner, hours: 0...24) else { return nil }
        // POSIX counts west of Greenwich as positive; everything else here counts east.
        standardOffset = -standard
        if scanner.isAtEnd {
            daylight = nil
            return
        }
        guard Self.skipName(&scanner) else { return nil }
        var daylightOffset = standardOffset + 3600
        if !scanner.skip(",") {
            guard let written = Self.clock(&scanner, hours: 0...24), scanner.skip(",") else { return nil }
            daylightOffset = -written
        }
        // POSIX lets an implementation pick the rule when it is missing; zic always writes one,
        // so a TZif footer without it is malformed, not an invitation to guess US rules.
        guard let start = Self.change(&scanner), scanner.skip(","), let end = Self.change(&scanner), scanner.isAtEnd else {
            return nil
        }
        daylight = Daylight(offset: daylightOffset, start: start, end: end)
    }

    // MARK: - Evaluating

    /// Instants further out than this (about 8.9 million years) are answered as at the limit, so
    /// that the year arithmetic below cannot overflow however absurd the question.
    static let limit: Int64 = 1 << 48

    /// The UTC offset at `t` (Unix seconds), in seconds east of UTC.
    func offset(at t: Int64) -> Int {
        guard let daylight else { return standardOffset }
        let t = min(max(t, -Self.limit), Self.limit)
        // The state at `t` is set by the latest change at or before it. With change times up to
        // a week off their day, that change belongs to this year or a neighbouring one.
        let year = civil(fromDays: floorDiv(t + Int64(standardOffset), 86400)).year
        var latest = Int64.min
        var result = standardOffset
        for y in (year - 1)...(year + 1) {
            // On a tie the later change wins: `0/0,J365/25` ends one year's daylight time at the
            // instant the next year's begins, which RFC 8536 uses to mean "daylight time all year".
            let start = instant(of: daylight.start, in: y, offsetBefore: standardOffset)
            if start <= t, start >= latest { (latest, result) = (start, daylight.offset) }
            let end = instant(of: daylight.end, in: y, offsetBefore: daylight.offset)
            if end <= t, end >= latest { (latest, result) = (end, standardOffset) }
        }
        return result
    }

    /// The first instant after `t` at which the offset changes, or nil when it never does.
    func nextTransition(after t: Int64) -> Int64? {
        guard let daylight, daylight.offset != standardOffset, t < Self.limit else { return nil }
        var from = max(t, -Self.limit)
        // A change that keeps the offset (daylight time all year) is skipped; a few years of
        // such changes mean there is nothing to find.
        for _ in 0..<8 {
            let year = civil(fromDays: floorDiv(from + Int64(standardOffset), 86400)).year
            var earliest = Int64.max
            for y in (year - 1)...(year + 2) {
                let start = instant(of: daylight.start, in: y, offsetBefore: standardOffset)
                if start > from, start < earliest { earliest = start }
                let end = instant(of: daylight.end, in: y, offsetBefore: daylight.offset)
                if end > from, end < earliest { earliest = end }
            }
            guard earliest != .max else { return nil }
            if offset(at: earliest) != offset(at: earliest - 1) { return earliest }
            from = earliest
        }
        return nil
    }

    /// The instant of `change` in `year`, whose local time is read with `offsetBefore`, the offset
    /// in effect until the change.
    private func instant(of change: Change, in year: Int, offsetBefore: Int) -> Int64 {
        let day: Int64
        switch change.day {
        case .julian(let n):
            // `days(fromCivil:)` counts on past the end of January, so day n is "January n".
            day = days(fromCivil: year, 1, n) + (isLeapYear(year) && n >= 60 ? 1 : 0)
        case .zeroBased(let n):
            day = days(fromCivil: year, 1, n + 1)
        case .monthWeekDay(let month, let week, let weekday):
            let first = days(fromCivil: year, month, 1)
            // 1970-01-01 was a Thursday (4), so the weekday of day d is (d + 4) mod 7.
            let firstMatch = first + floorMod(Int64(weekday) - (first + 4), 7)
            let candidate = firstMatch + Int64(week - 1) * 7
            // Week 5 means "the last": step back when the month has only four.
            day = candidate < first + Int64(daysInMonth(year, month)) ? candidate : candidate - 7
        }
        return day * 86400 + Int64(change.time - offsetBefore)
    }

    // MARK: - Parsing

    /// Skips a zone abbreviation: `<` letters, digits, `+` or `-` `>`, or three or more letters.
    private static func skipName(_ scanner: inout TextScanner) -> Bool {
        if scanner.skip("<") {
            let length = scanner.skip { TextScanner.isDigit($0) || TextScanner.isLetter($0) || $0 == UInt8(ascii: "+") || $0 == UInt8(ascii: "-") }
            return length >= 3 && scanner.skip(">")
        }
        return scanner.skip(while: TextScanner.isLetter) >= 3
    }

    /// `[+-]hh[:mm[:ss]]` in seconds, with hours limited to `hours` (before the sign is applied).
    private static func clock(_ scanner: inout TextScanner, hours: ClosedRange<Int>) -> Int? {
        let sign = scanner.skip("-") ? -1 : 1
        if sign == 1 { _ = scanner.skip("+") }
        guard let hour = scanner.number(digits: 1...3), hours.contains(hour) else { return nil }
        var seconds = hour * 3600
        if scanner.skip(":") {
            guard let minute = scanner.number(digits: 1...2), minute < 60 else { return nil }
            seconds += minute * 60
            if scanner.skip(":") {
                guard let second = scanner.number(digits: 1...2), second < 60 else { return nil }
                seconds += second
            }
        }
        return sign * seconds
    }

    /// `date[/time]`, the time defaulting to 02:00.
    private static func change(_ scanner: inout TextScanner) -> Change? {
        let day: Day
        if scanner.skip("J") {
            guard let n = scanner.number(digits: 1...3), (1...365).contains(n) else { return nil }
            day = .julian(n)
        } else if scanner.skip("M") {
            guard let month = scanner.number(digits: 1...2), (1...12).contains(month), scanner.skip("."),
                let week = scanner.number(digits: 1...1), (1...5).contains(week), scanner.skip("."),
                let weekday = scanner.number(digits: 1...1), (0...6).contains(weekday)
            else { return nil }
            day = .monthWeekDay(month: month, week: week, weekday: weekday)
        } else {
            guard let n = scanner.number(digits: 1...3), (0...365).contains(n) else { return nil }
            day = .zeroBased(n)
        }
        var time = 7200
        if scanner.skip("/") {
            // The time may be negative, so `clock` is reused with the RFC's ±167 hour bound.
            guard let written = clock(&scanner, hours: 0...167) else { return nil }
            time = written
        }
        return Change(day: day, time: time)
    }
}
