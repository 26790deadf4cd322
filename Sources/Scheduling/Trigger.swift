public import FoundationEssentials

/// When a job fires: a calendar (cron expression in a zone), a fixed interval, or once at start.
public enum Trigger: Sendable, Equatable, CustomStringConvertible {
    /// A cron expression read in a time zone.
    case calendar(CalendarTrigger)
    /// Every `Duration`, counted from the previous fire time (so a restart keeps the phase).
    case interval(Duration)
    /// Once each time opsd starts (cron's `@reboot`).
    case startup

    /// The schedule as the config writes it: the cron expression (and zone), `every 2h`, or `@reboot`.
    public var description: String {
        switch self {
        case .calendar(let calendar): return calendar.description
        case .interval(let every): return "every \(DurationText.format(every))"
        case .startup: return "@reboot"
        }
    }

    /// Parses a schedule as written in the config or on `opsctl schedule preview`: a cron
    /// expression or macro, `@reboot`, or an interval (`every 2h`, `2h`).
    public static func parse(_ text: String, zone: Zone = .utc) throws(CronError) -> Trigger {
        let trimmed = String(text.trimmingWhitespace())
        if trimmed.lowercased() == "@reboot" { return .startup }
        var intervalText = Substring(trimmed)
        if intervalText.lowercased().hasPrefix("every ") { intervalText = intervalText.dropFirst(6) }
        if let every = DurationText.parse(String(intervalText)) { return .interval(every) }
        return .calendar(CalendarTrigger(try CronExpression(trimmed), zone: zone))
    }

    /// Looks up an IANA zone name (`Europe/Berlin`); nil when the system has no such zone.
    /// The same as ``Zone/named(_:)``: kept so that config and CLI code read as "the zone a
    /// schedule is written in".
    public static func zone(named name: String) -> Zone? {
        Zone.named(name)
    }

    /// The first fire time strictly after `instant`. For intervals, `previous` anchors the phase:
    /// the result is `previous + k·interval` for the smallest k that lands after `instant`.
    public func next(after instant: Date, previous: Date? = nil) -> Date? {
        switch self {
        case .calendar(let calendar):
            return calendar.next(after: instant)
        case .interval(let every):
            let step = every.seconds
            guard step > 0 else { return nil }
            guard let previous else { return instant.addingTimeInterval(step) }
            let elapsed = instant.timeIntervalSince(previous)
            if elapsed < 0 { return previous.addingTimeInterval(step) }
            let steps = (elapsed / step).rounded(.down) + 1
            return previous.addingTimeInterval(steps * step)
        case .startup:
            return nil
        }
    }

    /// The latest fire time in `(previous, now]`, or nil when none passed: the one run that
    /// stands for all the fire times missed since `previous` (coalescing).
    public func latestDue(since previous: Date, upTo now: Date) -> Date? {
        if case .interval(let every) = self {
            let step = every.seconds
            guard step > 0, now.timeIntervalSince(previous) >= step else { return nil }
            return previous.addingTimeInterval((now.timeIntervalSince(previous) / step).rounded(.down) * step)
        }
        var latest: Date?
        var cursor = previous
        // Calendar fire times are at least a minute apart; a year of minutes bounds the walk.
        for _ in 0..<530_000 {
            guard let fire = next(after: cursor, previous: cursor), fire <= now else { break }
            latest = fire
            cursor = fire
        }
        return latest
    }

    /// The next `count` fire times after `instant` (empty for `@reboot`).
    public func upcoming(after instant: Date, count: Int) -> [Date] {
        var result: [Date] = []
        var cursor = instant
        var previous: Date? = nil
        while result.count < count, let fire = next(after: cursor, previous: previous) {
            result.append(fire)
            cursor = fire
            previous = fire
        }
        return result
    }
}
