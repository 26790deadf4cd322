import Foundation
@testable import Scheduling
import Testing

/// Our zones against Foundation's `TimeZone`, which asks ICU. The toolchain's ICU carries the same
/// tz release as Debian 12's tzdata (2025b), so the two must agree to the second.
///
/// One known difference, by design: Foundation's `nextDaylightSavingTimeTransition(after:)` is
/// ICU's "next transition", which reports every change of the standard offset *or* of the
/// daylight-saving amount, including changes that leave the clock where it was (Argentina in
/// 1999 went from -03 standard to -04 standard plus an hour of daylight time). It is not limited
/// to daylight-saving changes: Samoa's 2011 jump across the date line is in it. ``Zone`` reports
/// exactly the instants where the UTC offset changes, so the comparison drops the others.
@Suite(.enabled(if: TzRelease.isShared, TzRelease.differs))
struct ZoneFoundationTests {
    static let zones = [
        "Europe/Berlin", "America/New_York", "Australia/Lord_Howe", "Asia/Kolkata", "America/Sao_Paulo",
        "Africa/Casablanca", "Pacific/Apia", "Europe/Dublin", "America/St_Johns", "Asia/Tehran", "UTC",
        "Etc/GMT+5", "Pacific/Chatham", "Antarctica/Troll",
    ]
    static let start: Int64 = 0  // 1970-01-01
    static let end: Int64 = 4_102_444_800  // 2100-01-01

    static func foundationOffset(_ zone: TimeZone, _ t: Int64) -> Int {
        zone.secondsFromGMT(for: Date(timeIntervalSince1970: TimeInterval(t)))
    }

    /// Foundation's transitions in [from, to).
    static func foundationTransitions(_ zone: TimeZone, from: Int64 = start, to: Int64 = end) -> [Int64] {
        var result: [Int64] = []
        var cursor = Date(timeIntervalSince1970: TimeInterval(from))
        while let next = zone.nextDaylightSavingTimeTransition(after: cursor), next.timeIntervalSince1970 < TimeInterval(to) {
            result.append(Int64(next.timeIntervalSince1970))
            cursor = next
        }
        return result
    }

    /// Our transitions in (from, to).
    static func ourTransitions(_ zone: Zone, from: Int64 = start, to: Int64 = end) -> [Int64] {
        var result: [Int64] = []
        var cursor = from
        while let next = zone.nextTransition(after: cursor), next < to {
            result.append(next)
            cursor = next
        }
        return result
    }

    /// Compares offsets every `step` seconds in [from, to) and one second either side of every
    /// transition; returns the first few differences.
    static func offsetDifferences(_ ours: Zone, _ theirs: TimeZone, from: Int64, to: Int64, step: Int64) -> [String] {
        var differences: [String] = []
        func check(_ t: Int64) {
            let (mine, foundation) = (ours.offset(at: t), foundationOffset(theirs, t))
            if mine != foundation, differences.count < 5 { differences.append("at \(t): ours \(mine), Foundation \(foundation)") }
        }
        for t in stride(from: from, to: to, by: Int(step)) { check(t) }
        for t in foundationTransitions(theirs, from: from, to: to) + ourTransitions(ours, from: from, to: to) {
            check(t - 1)
            check(t)
            check(t + 1)
        }
        return differences
    }

    @Test(arguments: zones) func offsetsMatchFoundation(_ name: String) throws {
        let ours = try #require(Zone.named(name))
        let theirs = try #require(TimeZone(identifier: name))
        // From 1970 to 2100 (past 2037 that is the footer's rule at work), back to 1850 as well
        // (local mean time and the wars). Transitions are compared one by one in the next test;
        // between them the offset is constant, so samples a few days apart (and an odd number of
        // hours, to vary the time of day) are enough. Denser sampling cost seconds of CPU that the
        // timing-sensitive tests running beside these were starved of.
        #expect(Self.offsetDifferences(ours, theirs, from: Self.start, to: Self.end, step: 2 * 86400 + 5 * 3600) == [])
        #expect(Self.offsetDifferences(ours, theirs, from: POSIXRuleTests.utc(1850, 1, 1), to: Self.start, step: 9 * 86400 + 3600) == [])
    }

    @Test(arguments: zones) func transitionsMatchFoundation(_ name: String) throws {
        let ours = try #require(Zone.named(name))
        let theirs = try #require(TimeZone(identifier: name))
        let foundation = Self.foundationTransitions(theirs).filter {
            Self.foundationOffset(theirs, $0 - 1) != Self.foundationOffset(theirs, $0)
        }
        #expect(Self.ourTransitions(ours) == foundation)
    }

    @Test func foundationAlsoReportsChangesThatKeepTheOffset() throws {
        // 3 October 1999, 03:00 UTC: Argentina moves from -03 standard to -04 plus daylight time.
        let theirs = try #require(TimeZone(identifier: "America/Argentina/Buenos_Aires"))
        let change: Int64 = 938_919_600
        let reported = theirs.nextDaylightSavingTimeTransition(after: Date(timeIntervalSince1970: TimeInterval(change - 86400)))
        #expect(reported == Date(timeIntervalSince1970: TimeInterval(change)))
        #expect(Self.foundationOffset(theirs, change - 1) == Self.foundationOffset(theirs, change))
        let ours = try #require(Zone.named("America/Argentina/Buenos_Aires"))
        #expect(ours.nextTransition(after: change - 86400) == 1_198_983_600)  // December 2007
    }

    /// Every zone and link in the database, 1970–2100. Foundation maps a few legacy names to other
    /// data than Debian's files: `EET` and `WET` are links to Athens and Lisbon since tz 2024b, while
    /// ICU keeps its own rules for them. Those two are left out.
    @Test func everyZoneMatchesFoundationSince1970() throws {
        var checked = 0
        for name in try ZoneTests.allNames() where !["EET", "WET"].contains(name) {
            let ours = try #require(Zone.named(name), "\(name)")
            guard let theirs = TimeZone(identifier: name) else {
                Issue.record("Foundation has no \(name)")
                continue
            }
            // Transitions are compared one by one below; between them the offset is constant, so a
            // sample every 45 days (and an hour, to vary the time of day) is enough, and keeps this
            // test from starving the timing-sensitive ones that run beside it.
            #expect(Self.offsetDifferences(ours, theirs, from: Self.start, to: Self.end, step: 45 * 86400 + 3600) == [], "\(name)")
            let foundation = Self.foundationTransitions(theirs).filter {
                Self.foundationOffset(theirs, $0 - 1) != Self.foundationOffset(theirs, $0)
            }
            #expect(Self.ourTransitions(ours) == foundation, "\(name)")
            checked += 1
        }
        #expect(checked > 500)
    }
}

/// Whether Foundation and Debian's files carry the same tz release. Comparing is only meaningful
/// on the same data: when a tzdata update reaches Debian before the toolchain's ICU (or the other
/// way round), the zones it changed would differ for that reason alone.
enum TzRelease {
    /// Debian's release: tzdata.zi opens with `# version 2025b`.
    static let debian: String? = {
        guard let text = try? String(contentsOfFile: ZoneTests.source, encoding: .utf8),
            let first = text.split(separator: "\n").first, first.hasPrefix("# version ")
        else { return nil }
        return String(first.dropFirst("# version ".count))
    }()

    static let isShared = debian == TimeZone.timeZoneDataVersion
    static let differs: Comment = "Debian's tzdata and the toolchain's ICU carry different tz releases"
}
