import Foundation
import Scheduling
import Testing

/// Known answers for cron arithmetic. Each row: expression, zone, start instant, and the next fire
/// times as ISO-8601 with the zone's offset. DST dates (2026): Berlin springs forward on 29 March
/// at 02:00 CET and falls back on 25 October at 03:00 CEST; New York springs forward on 8 March at
/// 02:00 EST and falls back on 1 November at 02:00 EDT (checked against `zdump -v`).
@Suite struct CalendarTriggerTests {
    struct Case: CustomTestStringConvertible, Sendable {
        let expression: String
        let zone: String
        let from: String
        let expected: [String]
        var testDescription: String { "\(expression) in \(zone) from \(from)" }
    }

    static let cases: [Case] = [
        // Plain fields, steps, lists, ranges.
        Case(expression: "*/20 * * * *", zone: "UTC", from: "2026-01-01T00:00:00Z",
             expected: ["2026-01-01T00:20:00Z", "2026-01-01T00:40:00Z", "2026-01-01T01:00:00Z"]),
        Case(expression: "5-10/5,30 9 * * *", zone: "UTC", from: "2026-01-01T00:00:00Z",
             expected: ["2026-01-01T09:05:00Z", "2026-01-01T09:10:00Z", "2026-01-01T09:30:00Z", "2026-01-02T09:05:00Z"]),
        Case(expression: "10/20 * * * *", zone: "UTC", from: "2026-01-01T00:00:00Z",
             expected: ["2026-01-01T00:10:00Z", "2026-01-01T00:30:00Z", "2026-01-01T00:50:00Z"]),
        // Month ends: the 31st only in months that have one.
        Case(expression: "0 12 31 * *", zone: "UTC", from: "2026-01-31T12:00:00Z",
             expected: ["2026-03-31T12:00:00Z", "2026-05-31T12:00:00Z", "2026-07-31T12:00:00Z", "2026-08-31T12:00:00Z"]),
        // Leap day: 29 February only in leap years.
        Case(expression: "0 0 29 2 *", zone: "UTC", from: "2026-01-01T00:00:00Z",
             expected: ["2028-02-29T00:00:00Z", "2032-02-29T00:00:00Z"]),
        // OR semantics: the 1st and 15th, and every Friday.
        Case(expression: "30 4 1,15 * 5", zone: "UTC", from: "2026-05-01T00:00:00Z",
             expected: ["2026-05-01T04:30:00Z", "2026-05-08T04:30:00Z", "2026-05-15T04:30:00Z", "2026-05-22T04:30:00Z", "2026-05-29T04:30:00Z", "2026-06-01T04:30:00Z"]),
        // Vixie's `*` test: `*/2` in day-of-week counts as unrestricted, so both must match (AND).
        Case(expression: "0 0 1-7 * */2", zone: "UTC", from: "2026-06-01T00:00:00Z",
             expected: ["2026-06-02T00:00:00Z", "2026-06-04T00:00:00Z", "2026-06-06T00:00:00Z", "2026-06-07T00:00:00Z", "2026-07-02T00:00:00Z"]),
        // Names, case-insensitive; 7 is Sunday too.
        Case(expression: "0 9 * JAN,jul mon-wed", zone: "UTC", from: "2026-06-30T00:00:00Z",
             expected: ["2026-07-01T09:00:00Z", "2026-07-06T09:00:00Z", "2026-07-07T09:00:00Z"]),
        Case(expression: "0 0 * * 7", zone: "UTC", from: "2026-11-24T00:00:00Z",
             expected: ["2026-11-29T00:00:00Z", "2026-12-06T00:00:00Z"]),
        // Macros.
        Case(expression: "@weekly", zone: "UTC", from: "2026-11-24T10:00:00Z", expected: ["2026-11-29T00:00:00Z"]),
        Case(expression: "@monthly", zone: "UTC", from: "2026-11-24T10:00:00Z", expected: ["2026-12-01T00:00:00Z", "2027-01-01T00:00:00Z"]),
        Case(expression: "@yearly", zone: "UTC", from: "2026-11-24T10:00:00Z", expected: ["2027-01-01T00:00:00Z"]),
        Case(expression: "@hourly", zone: "UTC", from: "2026-11-24T10:00:00Z", expected: ["2026-11-24T11:00:00Z"]),

        // Berlin, spring forward: 02:30 does not exist; the fixed-hour job runs at the change, once.
        Case(expression: "30 2 * * *", zone: "Europe/Berlin", from: "2026-03-28T12:00:00+01:00",
             expected: ["2026-03-29T03:00:00+02:00", "2026-03-30T02:30:00+02:00"]),
        Case(expression: "0,30 2 * * *", zone: "Europe/Berlin", from: "2026-03-28T12:00:00+01:00",
             expected: ["2026-03-29T03:00:00+02:00", "2026-03-30T02:00:00+02:00"]),
        // …a `*`-hour job just continues on the new time.
        Case(expression: "30 * * * *", zone: "Europe/Berlin", from: "2026-03-29T01:00:00+01:00",
             expected: ["2026-03-29T01:30:00+01:00", "2026-03-29T03:30:00+02:00"]),
        // Berlin, fall back: 02:30 happens twice; the fixed-hour job runs in the first pass only.
        Case(expression: "30 2 * * *", zone: "Europe/Berlin", from: "2026-10-24T12:00:00+02:00",
             expected: ["2026-10-25T02:30:00+02:00", "2026-10-26T02:30:00+01:00"]),
        // …an hourly job runs in both passes (real time keeps going).
        Case(expression: "0 * * * *", zone: "Europe/Berlin", from: "2026-10-25T01:30:00+02:00",
             expected: ["2026-10-25T02:00:00+02:00", "2026-10-25T02:00:00+01:00", "2026-10-25T03:00:00+01:00"]),
        Case(expression: "*/30 * * * *", zone: "Europe/Berlin", from: "2026-10-25T02:10:00+02:00",
             expected: ["2026-10-25T02:30:00+02:00", "2026-10-25T02:00:00+01:00", "2026-10-25T02:30:00+01:00", "2026-10-25T03:00:00+01:00"]),

        // New York, spring forward at 02:00 EST → 03:00 EDT.
        Case(expression: "15 2 * * *", zone: "America/New_York", from: "2026-03-07T12:00:00-05:00",
             expected: ["2026-03-08T03:00:00-04:00", "2026-03-09T02:15:00-04:00"]),
        Case(expression: "0 3 * * *", zone: "America/New_York", from: "2026-03-07T12:00:00-05:00",
             expected: ["2026-03-08T03:00:00-04:00", "2026-03-09T03:00:00-04:00"]),
        // New York, fall back: 01:00–01:59 repeats.
        Case(expression: "30 1 * * *", zone: "America/New_York", from: "2026-10-31T12:00:00-04:00",
             expected: ["2026-11-01T01:30:00-04:00", "2026-11-02T01:30:00-05:00"]),
        Case(expression: "45 * * * *", zone: "America/New_York", from: "2026-11-01T00:50:00-04:00",
             expected: ["2026-11-01T01:45:00-04:00", "2026-11-01T01:45:00-05:00", "2026-11-01T02:45:00-05:00"]),
    ]

    @Test(arguments: cases) func nextFireTimes(_ row: Case) throws {
        let zone = try #require(Trigger.zone(named: row.zone))
        let from = try #require(ISOTime.parse(row.from, zone: zone))
        let trigger = try Trigger.parse(row.expression, zone: zone)
        let fires = trigger.upcoming(after: from, count: row.expected.count).map { ISOTime.format($0, in: zone) }
        #expect(fires == row.expected)
    }

    @Test func aFireTimeIsStrictlyAfterTheStart() throws {
        let trigger = try Trigger.parse("0 0 * * *")
        let midnight = try #require(ISOTime.parse("2026-01-01T00:00:00Z", zone: .utc))
        #expect(trigger.next(after: midnight).map { ISOTime.format($0, in: .utc) } == "2026-01-02T00:00:00Z")
    }

    @Test func intervalsKeepTheirPhaseAcrossARestart() throws {
        let trigger = try Trigger.parse("every 10m")
        let previous = try #require(ISOTime.parse("2026-01-01T00:00:00Z", zone: .utc))
        let now = try #require(ISOTime.parse("2026-01-01T00:25:00Z", zone: .utc))
        #expect(trigger.next(after: now, previous: previous).map { ISOTime.format($0, in: .utc) } == "2026-01-01T00:30:00Z")
        #expect(trigger.next(after: now).map { ISOTime.format($0, in: .utc) } == "2026-01-01T00:35:00Z")
        #expect(try Trigger.parse("90s") == .interval(.seconds(90)))
    }

    @Test func missedFireTimesCoalesceIntoTheLatest() throws {
        let start = try #require(ISOTime.parse("2026-01-01T00:00:00Z", zone: .utc))
        let now = try #require(ISOTime.parse("2026-01-01T05:30:00Z", zone: .utc))
        let hourly = try Trigger.parse("0 * * * *")
        #expect(hourly.latestDue(since: start, upTo: now).map { ISOTime.format($0, in: .utc) } == "2026-01-01T05:00:00Z")
        #expect(try Trigger.parse("every 2h").latestDue(since: start, upTo: now).map { ISOTime.format($0, in: .utc) } == "2026-01-01T04:00:00Z")
        #expect(try Trigger.parse("@daily").latestDue(since: start, upTo: now) == nil)
    }

    @Test(arguments: [
        ("* * * *", "5 fields"),
        ("60 * * * *", "minute field has `60`"),
        ("* 24 * * *", "hour field"),
        ("* * 0 * *", "day-of-month field"),
        ("* * * 13 *", "month field"),
        ("* * * * 8", "day-of-week field"),
        ("* * * foo *", "jan-dec"),
        ("*/0 * * * *", "positive"),
        ("10-5 * * * *", "backwards"),
        ("0 0 30 2 *", "never fires"),
        ("@fortnightly", "unknown macro"),
    ])
    func badExpressionsSayWhy(_ text: String, _ fragment: String) {
        let error = #expect(throws: CronError.self) { try CronExpression(text) }
        #expect(error?.description.contains(fragment) == true, "\(error?.description ?? "no error")")
    }

    @Test func zonesMustBeTzDatabaseNames() {
        #expect(Trigger.zone(named: "Europe/Berlin") != nil)
        #expect(Trigger.zone(named: "Mars/Olympus") == nil)
        #expect(Trigger.zone(named: "UTC") != nil)
    }

    @Test func rebootIsNotACalendar() throws {
        #expect(try Trigger.parse("@reboot") == .startup)
        #expect(Trigger.startup.next(after: Date()) == nil)
    }
}
