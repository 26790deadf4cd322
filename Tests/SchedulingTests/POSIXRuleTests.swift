@testable import Scheduling
import Testing

/// POSIX TZ strings (TZif footers): each rule form, evaluated against answers worked out by hand
/// (and checked with Python's zoneinfo where a real zone uses the rule).
@Suite struct POSIXRuleTests {
    /// Unix seconds of a UTC wall time, via the module's own (separately tested) civil arithmetic.
    static func utc(_ year: Int, _ month: Int, _ day: Int, _ hour: Int = 0, _ minute: Int = 0) -> Int64 {
        days(fromCivil: year, month, day) * 86400 + Int64(hour * 3600 + minute * 60)
    }

    /// The next `count` transitions after `t`.
    static func transitions(_ rule: POSIXRule, after t: Int64, count: Int) -> [Int64] {
        var result: [Int64] = []
        var cursor = t
        while result.count < count, let next = rule.nextTransition(after: cursor) {
            result.append(next)
            cursor = next
        }
        return result
    }

    @Test func monthWeekDayWithAnHourAfterTheChange() throws {
        // Europe/Berlin: last Sunday of March 02:00 CET, last Sunday of October 03:00 CEST,
        // both 01:00 UTC; in 2026 those Sundays are the 29th and the 25th.
        let rule = try #require(POSIXRule("CET-1CEST,M3.5.0,M10.5.0/3"))
        #expect(rule.standardOffset == 3600)
        #expect(rule.daylight?.offset == 7200)
        #expect(Self.transitions(rule, after: Self.utc(2026, 1, 1), count: 2) == [Self.utc(2026, 3, 29, 1), Self.utc(2026, 10, 25, 1)])
        #expect(rule.offset(at: Self.utc(2026, 3, 29, 1) - 1) == 3600)
        #expect(rule.offset(at: Self.utc(2026, 3, 29, 1)) == 7200)
        #expect(rule.offset(at: Self.utc(2026, 10, 25, 1) - 1) == 7200)
        #expect(rule.offset(at: Self.utc(2026, 10, 25, 1)) == 3600)
        // Week 5 is "the last" even in a month with only four of that weekday: March 2015 has
        // Sundays on the 1st, 8th, 15th, 22nd and 29th; February 2026 only four (1st … 22nd).
        let february = try #require(POSIXRule("XST0XDT,M2.5.0/0,M11.1.0/0"))
        #expect(february.nextTransition(after: Self.utc(2026, 1, 1)) == Self.utc(2026, 2, 22))
        #expect(rule.nextTransition(after: Self.utc(2015, 1, 1)) == Self.utc(2015, 3, 29, 1))
    }

    @Test func usRulesWithTheDefaultTimeAndDaylightOffset() throws {
        // America/New_York: second Sunday of March, first Sunday of November, 02:00 local; the
        // daylight offset is not written, so it is standard + 1 hour.
        let rule = try #require(POSIXRule("EST5EDT,M3.2.0,M11.1.0"))
        #expect(rule.standardOffset == -18000)
        #expect(rule.daylight?.offset == -14400)
        // 2026: 8 March 02:00 EST = 07:00 UTC; 1 November 02:00 EDT = 06:00 UTC.
        #expect(Self.transitions(rule, after: Self.utc(2026, 1, 1), count: 2) == [Self.utc(2026, 3, 8, 7), Self.utc(2026, 11, 1, 6)])
    }

    @Test func julianDaysNeverCountFebruary29() throws {
        // J60 is 1 March and J300 is 27 October in every year, leap or not.
        let rule = try #require(POSIXRule("EST5EDT,J60/2,J300/2"))
        #expect(Self.transitions(rule, after: Self.utc(2024, 1, 1), count: 2) == [Self.utc(2024, 3, 1, 7), Self.utc(2024, 10, 27, 6)])
        #expect(Self.transitions(rule, after: Self.utc(2025, 1, 1), count: 2) == [Self.utc(2025, 3, 1, 7), Self.utc(2025, 10, 27, 6)])
        // J365 is 31 December, leap year or not.
        let last = try #require(POSIXRule("XST0XDT,J1/0,J365/0"))
        #expect(Self.transitions(last, after: Self.utc(2024, 6, 1), count: 1) == [Self.utc(2024, 12, 31) - 3600])
    }

    @Test func zeroBasedDaysCountFebruary29() throws {
        // Day 59 is 29 February in a leap year and 1 March otherwise; day 299 is 26 October in
        // a leap year and 27 October otherwise.
        let rule = try #require(POSIXRule("EST5EDT,59/2,299/2"))
        #expect(Self.transitions(rule, after: Self.utc(2024, 1, 1), count: 2) == [Self.utc(2024, 2, 29, 7), Self.utc(2024, 10, 26, 6)])
        #expect(Self.transitions(rule, after: Self.utc(2025, 1, 1), count: 2) == [Self.utc(2025, 3, 1, 7), Self.utc(2025, 10, 27, 6)])
        // Day 0 is 1 January.
        let first = try #require(POSIXRule("XST0XDT,0/0,100/0"))
        #expect(first.nextTransition(after: Self.utc(2025, 6, 1)) == Self.utc(2026, 1, 1))
    }

    @Test func changeTimesBeyond24HoursAndNegative() throws {
        // Asia/Jerusalem: the Friday before the last Sunday of March, written as the fourth
        // Thursday at 26:00. In 2026 that Thursday is the 26th, so 27 March 02:00 IST = 00:00 UTC.
        let jerusalem = try #require(POSIXRule("IST-2IDT,M3.4.4/26,M10.5.0"))
        #expect(jerusalem.nextTransition(after: Self.utc(2026, 1, 1)) == Self.utc(2026, 3, 27))
        // America/Nuuk: last Sunday of March at -1:00, i.e. 23:00 on the Saturday, -02 → 01:00 UTC;
        // last Sunday of October at 00:00 -01 → 01:00 UTC.
        let nuuk = try #require(POSIXRule("<-02>2<-01>,M3.5.0/-1,M10.5.0/0"))
        #expect(nuuk.standardOffset == -7200)
        #expect(Self.transitions(nuuk, after: Self.utc(2026, 1, 1), count: 2) == [Self.utc(2026, 3, 29, 1), Self.utc(2026, 10, 25, 1)])
        // America/Santiago: /24 is midnight at the end of the first Saturday (September 2026: the 5th).
        let santiago = try #require(POSIXRule("<-04>4<-03>,M9.1.6/24,M4.1.6/24"))
        #expect(santiago.nextTransition(after: Self.utc(2026, 6, 1)) == Self.utc(2026, 9, 6, 4))
        // The RFC's outer bounds, ±167 hours, parse and move the change by a week.
        let late = try #require(POSIXRule("XST0XDT,M3.1.0/167,M10.1.0/-167"))
        // First Sunday of March 2026 is the 1st: + 167 h = 7 March 23:00.
        #expect(late.nextTransition(after: Self.utc(2026, 1, 1)) == Self.utc(2026, 3, 7, 23))
        // First Sunday of October 2026 is the 4th: - 167 h = 27 September 01:00 local daylight time.
        #expect(late.nextTransition(after: Self.utc(2026, 3, 8)) == Self.utc(2026, 9, 27, 0))
    }

    @Test func minutesInOffsetsAndTimes() throws {
        // Pacific/Chatham: +12:45, +13:45 in summer, changes at 02:45 and 03:45 local.
        let chatham = try #require(POSIXRule("<+1245>-12:45<+1345>,M9.5.0/2:45,M4.1.0/3:45"))
        #expect(chatham.standardOffset == 45900)
        #expect(chatham.daylight?.offset == 49500)
        // First Sunday of April 2026 is the 5th: 03:45 +13:45 = 14:00 UTC on the 4th.
        #expect(chatham.nextTransition(after: Self.utc(2026, 1, 1)) == Self.utc(2026, 4, 4, 14))
        // Australia/Lord_Howe: daylight time is 30 minutes ahead, written as an explicit offset.
        let lordHowe = try #require(POSIXRule("<+1030>-10:30<+11>-11,M10.1.0,M4.1.0"))
        #expect(lordHowe.daylight?.offset == 39600)
        // First Sunday of April 2026 is the 5th: 02:00 +11 = 15:00 UTC on the 4th.
        #expect(lordHowe.nextTransition(after: Self.utc(2026, 1, 1)) == Self.utc(2026, 4, 4, 15))
        #expect(lordHowe.offset(at: Self.utc(2026, 7, 1)) == 37800)
        #expect(lordHowe.offset(at: Self.utc(2026, 1, 1)) == 39600)
    }

    @Test func southernHemisphereAndNegativeDaylightTime() throws {
        // Europe/Dublin: standard time is IST (+1, summer), "daylight" time is GMT (winter).
        let dublin = try #require(POSIXRule("IST-1GMT0,M10.5.0,M3.5.0/1"))
        #expect(dublin.standardOffset == 3600)
        #expect(dublin.daylight?.offset == 0)
        #expect(dublin.offset(at: Self.utc(2026, 1, 15)) == 0)
        #expect(dublin.offset(at: Self.utc(2026, 7, 15)) == 3600)
        #expect(dublin.offset(at: Self.utc(2026, 12, 31, 23)) == 0)
        #expect(Self.transitions(dublin, after: Self.utc(2026, 1, 1), count: 2) == [Self.utc(2026, 3, 29, 1), Self.utc(2026, 10, 25, 1)])
    }

    @Test func zonesWithoutDaylightTime() throws {
        let cases: [(String, Int)] = [("<+03>-3", 10800), ("<-05>5", -18000), ("IST-5:30", 19800), ("UTC0", 0), ("<+0330>-3:30", 12600), ("<-00>0", 0)]
        for (text, offset) in cases {
            let rule = try #require(POSIXRule(text), "\(text)")
            #expect(rule.daylight == nil)
            #expect(rule.offset(at: Self.utc(2026, 6, 1)) == offset, "\(text)")
            #expect(rule.nextTransition(after: 0) == nil, "\(text)")
        }
    }

    @Test func daylightTimeAllYear() throws {
        // RFC 8536 §3.3.1: daylight time from 1 January 00:00 to 31 December 25:00 (= 1 January
        // 00:00 standard), so always in effect and never a change.
        let rule = try #require(POSIXRule("EST5EDT,0/0,J365/25"))
        for t in stride(from: Self.utc(2025, 12, 31, 3), to: Self.utc(2026, 1, 2), by: 1800) {
            #expect(rule.offset(at: t) == -14400)
        }
        #expect(rule.nextTransition(after: Self.utc(2026, 6, 1)) == nil)
    }

    @Test(arguments: [
        "", "CET", "CE-1", "C1", "<+03", "<+3>-3", "<>0", "CET-1CEST", "CET-1CEST4", "CET-1CEST,M3.5.0",
        "CET-1CEST,M13.5.0,M10.5.0", "CET-1CEST,M3.6.0,M10.5.0", "CET-1CEST,M3.0.0,M10.5.0", "CET-1CEST,M3.5.7,M10.5.0",
        "CET-1CEST,J0,J365", "CET-1CEST,J1,J366", "CET-1CEST,0,366", "CET-1CEST,M3.5.0/168,M10.5.0", "CET-1CEST,M3.5.0/-168,M10.5.0",
        "CET-25", "CET-1:60", "CET-1:00:60", "CET-1CEST,M3.5.0,M10.5.0/", "CET-1CEST,M3.5.0,M10.5.0 ", " CET-1", "CET-1CEST,,M10.5.0",
        "CET-1CEST,M3.5.0,M10.5.0,M11.1.0", "CET-1x", "CET-+1", "CET+-1", "CÉT-1",
    ])
    func malformedRulesAreRefused(_ text: String) {
        #expect(POSIXRule(text) == nil)
    }
}
