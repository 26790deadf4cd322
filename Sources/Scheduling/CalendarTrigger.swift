public import FoundationEssentials

/// A cron expression read in one time zone: the arithmetic that turns "30 2 * * *" into instants.
///
/// Daylight-saving changes follow Vixie/ISC cron, the behaviour operators already know:
/// - **Skipped wall-clock time** (spring forward): a job whose hour field is fixed runs once, at
///   the instant of the change (`30 2 * * *` in Berlin on 29 March runs at 03:00 CEST); several
///   skipped times coalesce into that one run. Jobs with a `*` hour just continue on the new time.
/// - **Repeated wall-clock time** (fall back): a job whose hour field is fixed runs once, in the
///   first pass. Jobs with a `*` hour (`*/15 * * * *`, `@hourly`) follow real time and run in
///   both passes, so a quarter-hourly job never goes an hour without running.
public struct CalendarTrigger: Sendable, Equatable, CustomStringConvertible {
    /// The expression.
    public let expression: CronExpression
    /// The zone whose wall clock the expression is read in.
    public let zone: Zone

    /// The expression read in `zone`.
    public init(_ expression: CronExpression, zone: Zone) {
        self.expression = expression
        self.zone = zone
    }

    /// The expression, then the zone in parentheses unless it is UTC: `30 2 * * * (Europe/Berlin)`.
    public var description: String {
        zone.identifier == "GMT" || zone.identifier == "UTC" ? expression.source : "\(expression.source) (\(zone.identifier))"
    }

    /// The first fire time strictly after `instant`, or nil when there is none within 8 years.
    public func next(after instant: Date) -> Date? {
        let t = Int64(instant.timeIntervalSince1970.rounded(.down))
        var wall = floorDiv(t + offset(at: t), 60) * 60 + 60
        let limit = wall + 8 * 366 * 86400
        while wall < limit {
            guard let match = nextWallMatch(from: wall, before: limit) else { return nil }
            if let fire = self.instant(forWall: match, after: t) {
                return Date(timeIntervalSince1970: TimeInterval(earlierSecondPass(after: t, before: fire)))
            }
            wall = match + 60
        }
        return nil
    }

    /// The next `count` fire times after `instant`.
    public func upcoming(after instant: Date, count: Int) -> [Date] {
        var result: [Date] = []
        var cursor = instant
        while result.count < count, let fire = next(after: cursor) {
            result.append(fire)
            cursor = fire
        }
        return result
    }

    // MARK: - Wall clock → instants

    private func offset(at t: Int64) -> Int64 {
        Int64(zone.offset(at: t))
    }

    /// The instant for wall time `wall` (seconds since 1970 as if the zone were UTC) that fires
    /// after `t`, applying the daylight-saving rules above.
    private func instant(forWall wall: Int64, after t: Int64) -> Int64? {
        let early = offset(at: wall - 86400)
        let late = offset(at: wall + 86400)
        let candidates = Set([early, late]).map { wall - $0 }.filter { offset(at: $0) == wall - $0 }.sorted()
        if candidates.isEmpty {
            // The wall time falls in a gap: fixed-hour jobs run at the change itself.
            guard !expression.hourIsWildcard else { return nil }
            let fire = zone.nextTransition(after: wall - late) ?? (wall - early)
            return fire > t ? fire : nil
        }
        let allowed = expression.hourIsWildcard ? candidates : [candidates[0]]
        return allowed.first { $0 > t }
    }

    /// For `*`-hour jobs: when the clock falls back between `t` and `fire`, the repeated wall
    /// times of the second pass come before `fire` in real time although they sort before it on
    /// the wall clock; find the first of them after `t`.
    private func earlierSecondPass(after t: Int64, before fire: Int64) -> Int64 {
        guard expression.hourIsWildcard, offset(at: fire) < offset(at: t),
            let c = zone.nextTransition(after: t)
        else { return fire }
        let before = offset(at: c - 1)
        let after = offset(at: c)
        guard c <= fire, after < before else { return fire }
        // Wall times in [c + after, c + before) occur twice; their second pass uses `after`.
        guard let match = nextWallMatch(from: c + after, before: c + before) else { return fire }
        let candidate = match - after
        return candidate > t && candidate < fire ? candidate : fire
    }

    // MARK: - Wall-clock search (no time zones here)

    /// The first wall time at or after `start` (a whole minute) that matches, before `limit`.
    private func nextWallMatch(from start: Int64, before limit: Int64) -> Int64? {
        let hours = expression.hours.sorted()
        let minutes = expression.minutes.sorted()
        var day = floorDiv(start, 86400)
        var secondOfDay = start - day * 86400
        while day * 86400 < limit {
            let (_, month, dayOfMonth) = civil(fromDays: day)
            let weekday = Int(floorMod(day + 4, 7))  // 1970-01-01 was a Thursday
            if expression.matchesDay(month: month, day: dayOfMonth, weekday: weekday) {
                let hourNow = Int(secondOfDay / 3600)
                let minuteNow = Int(secondOfDay % 3600 / 60)
                for hour in hours where hour >= hourNow {
                    let from = hour == hourNow ? minuteNow : 0
                    if let minute = minutes.first(where: { $0 >= from }) {
                        let wall = day * 86400 + Int64(hour * 3600 + minute * 60)
                        return wall < limit ? wall : nil
                    }
                }
            }
            day += 1
            secondOfDay = 0
        }
        return nil
    }
}
