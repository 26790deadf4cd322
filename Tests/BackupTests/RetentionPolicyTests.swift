import Backup
import Foundation
import OpsConfig
import Testing

/// `backup.keep` decides as restic's `forget` does; the cases are restic's own documented examples
/// (doc/060_forget.rst), read in UTC so they do not depend on the test host's zone.
@Suite("Backup: retention policy (restic's forget rules)")
struct RetentionPolicyTests {
    static let utc = TimeZone(identifier: "UTC")!

    static func time(_ text: String) -> Date {
        let parser = ISO8601DateFormatter()
        return parser.date(from: text)!
    }

    @Test("a backup every Sunday for 12 weeks, keep daily 4: the last four Sundays, as restic's documentation shows")
    func sundays() {
        let times = (0..<12).map { Self.time("2019-09-01T11:00:00Z").addingTimeInterval(Double($0) * 7 * 86400) }
        let decisions = RetentionPolicy(keep: BackupKeep(daily: 4), timeZone: Self.utc).apply(times)
        #expect(decisions.filter(\.kept).map(\.index) == [11, 10, 9, 8])
        #expect(decisions.filter(\.kept).allSatisfy { $0.reasons == ["daily snapshot"] })
        #expect(decisions.filter { !$0.kept }.count == 8)
        #expect(decisions.first?.time == Self.time("2019-11-17T11:00:00Z"))
    }

    @Test("a backup every day for 100 years, keep 7 daily, 5 weekly, 12 monthly, 75 yearly: 7 + 4 + 11 + 73, as restic's documentation counts")
    func hundredYears() {
        let end = Self.time("2019-11-17T12:00:00Z")  // a Sunday
        let times = (0..<36500).map { end.addingTimeInterval(-Double($0) * 86400) }
        let decisions = RetentionPolicy(keep: BackupKeep(daily: 7, weekly: 5, monthly: 12, yearly: 75), timeZone: Self.utc).apply(times)
        let kept = decisions.filter(\.kept)
        // The 7 dailies include one week's end; the month's and year's ends overlap the way
        // the documentation says ("12 or 11", "75 or 74"): Nov 17 is daily, weekly, monthly and yearly.
        #expect(kept.count == 7 + 4 + 11 + 73)
        #expect(kept[0].reasons == ["daily snapshot", "weekly snapshot", "monthly snapshot", "yearly snapshot"])
        #expect(kept.filter { $0.reasons.contains("weekly snapshot") }.count == 5)
        #expect(kept.filter { $0.reasons.contains("monthly snapshot") }.count == 12)
        #expect(kept.filter { $0.reasons.contains("yearly snapshot") }.count == 75)
        let lastYearly = kept.filter { $0.reasons.contains("yearly snapshot") }.last
        #expect(lastYearly?.time == Self.time("1945-12-31T12:00:00Z"))
    }

    @Test("an empty policy keeps everything, as restic refuses to forget with one")
    func emptyPolicy() {
        let times = [Self.time("2024-01-01T00:00:00Z"), Self.time("2024-01-02T00:00:00Z")]
        #expect(RetentionPolicy(keep: BackupKeep(), timeZone: Self.utc).apply(times).allSatisfy { $0.kept })
    }

    @Test("last N keeps the newest N whatever their times; a backup kept by two rules lists both reasons")
    func lastAndReasons() {
        let times = (0..<6).map { Self.time("2024-03-01T10:00:00Z").addingTimeInterval(Double($0) * 600) }  // one hour, 10 min apart
        let decisions = RetentionPolicy(keep: BackupKeep(last: 2, hourly: 2), timeZone: Self.utc).apply(times)
        #expect(decisions.map(\.index) == [5, 4, 3, 2, 1, 0])
        #expect(decisions[0].reasons == ["last snapshot", "hourly snapshot"])
        #expect(decisions[1].reasons == ["last snapshot"])
        #expect(decisions.filter(\.kept).count == 2, "all six are in the same hour: hourly keeps only the newest")
    }

    @Test("periods are read in the given zone: 23:30 and 00:30 UTC are two days in UTC, one day in Berlin")
    func timeZone() throws {
        let times = [Self.time("2024-03-01T23:30:00Z"), Self.time("2024-03-02T00:30:00Z")]
        #expect(RetentionPolicy(keep: BackupKeep(daily: 5), timeZone: Self.utc).apply(times).filter(\.kept).count == 2)
        let berlin = try #require(TimeZone(identifier: "Europe/Berlin"))
        #expect(RetentionPolicy(keep: BackupKeep(daily: 5), timeZone: berlin).apply(times).filter(\.kept).count == 1)
    }
}
