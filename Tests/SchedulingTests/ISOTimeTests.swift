import Foundation
@testable import Scheduling
import Testing

/// ISOTime as it was, on Foundation's formatters: the reference the new code must match.
/// The formatters are made once per reference, not per call as the old code did; same settings.
final class FoundationISOTime {
    private let zone: TimeZone
    private let printer = ISO8601DateFormatter()
    private let full = ISO8601DateFormatter()
    private let walls: [DateFormatter]

    init(_ zone: TimeZone) {
        self.zone = zone
        printer.formatOptions = [.withInternetDateTime]
        printer.timeZone = zone
        full.formatOptions = [.withInternetDateTime]
        walls = ["yyyy-MM-dd'T'HH:mm:ss", "yyyy-MM-dd'T'HH:mm", "yyyy-MM-dd HH:mm:ss", "yyyy-MM-dd HH:mm", "yyyy-MM-dd"].map { pattern in
            let formatter = DateFormatter()
            formatter.locale = Locale(identifier: "en_US_POSIX")
            formatter.timeZone = zone
            formatter.dateFormat = pattern
            return formatter
        }
    }

    func format(_ date: Date) -> String { printer.string(from: date) }

    func parse(_ text: String) -> Date? {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        if let date = full.date(from: trimmed) { return date }
        for formatter in walls {
            if let date = formatter.date(from: trimmed) { return date }
        }
        return nil
    }
}

@Suite struct ISOTimeTests {
    static func zone(_ name: String) throws -> Zone { try #require(Zone.named(name)) }
    static func date(_ t: Double) -> Date { Date(timeIntervalSince1970: t) }

    /// A wall time (seconds since 1970 as if UTC) written as `yyyy-MM-dd`, `separator`, `HH:mm[:ss]`.
    static func wallText(_ wall: Int64, separator: String, seconds: Bool) -> String {
        let day = floorDiv(wall, 86400)
        let (year, month, dayOfMonth) = civil(fromDays: day)
        let second = Int(wall - day * 86400)
        func two(_ n: Int) -> String { n < 10 ? "0\(n)" : "\(n)" }
        let date = "\(year)-\(two(month))-\(two(dayOfMonth))"
        let time = "\(two(second / 3600)):\(two(second / 60 % 60))" + (seconds ? ":\(two(second % 60))" : "")
        return date + separator + time
    }

    // MARK: - Formatting

    @Test func formatKnownAnswers() throws {
        let berlin = try Self.zone("Europe/Berlin")
        #expect(ISOTime.format(Self.date(1_774_746_000), in: berlin) == "2026-03-29T03:00:00+02:00")
        #expect(ISOTime.format(Self.date(1_774_745_999), in: berlin) == "2026-03-29T01:59:59+01:00")
        #expect(ISOTime.format(Self.date(-4e9), in: berlin) == "1843-03-31T17:46:48+00:53:28")
        #expect(ISOTime.format(Self.date(0), in: .utc) == "1970-01-01T00:00:00Z")
        // Whole seconds, rounded down, also before 1970.
        #expect(ISOTime.format(Self.date(1.7), in: .utc) == "1970-01-01T00:00:01Z")
        #expect(ISOTime.format(Self.date(-0.5), in: .utc) == "1969-12-31T23:59:59Z")
        #expect(ISOTime.format(Self.date(253_402_300_800), in: .utc) == "10000-01-01T00:00:00Z")
        #expect(ISOTime.format(Self.date(0), in: try Self.zone("America/St_Johns")) == "1969-12-31T20:30:00-03:30")
        #expect(ISOTime.format(Self.date(0), in: try Self.zone("Africa/Monrovia")) == "1969-12-31T23:15:30-00:44:30")
        #expect(ISOTime.format(Self.date(1_767_225_600), in: try Self.zone("Etc/GMT+5")) == "2025-12-31T19:00:00-05:00")
        #expect(ISOTime.format(Self.date(1_767_225_600), in: try Self.zone("Pacific/Chatham")) == "2026-01-01T13:45:00+13:45")
        // A zero offset is `Z` whatever the zone: Dublin in winter.
        #expect(ISOTime.format(Self.date(1_767_225_600), in: try Self.zone("Europe/Dublin")) == "2026-01-01T00:00:00Z")
    }

    static let zones = ZoneFoundationTests.zones + ["Africa/Monrovia"]

    @Test(.enabled(if: TzRelease.isShared, TzRelease.differs), arguments: zones)
    func formatMatchesFoundation(_ name: String) throws {
        let ours = try Self.zone(name)
        let reference = FoundationISOTime(try #require(TimeZone(identifier: name)))
        var instants: [Double] = []
        // From 1583 (Foundation is Julian before October 1582) to 2200, at odd steps so that
        // every time of day comes up, with fractions on both sides of zero; every transition
        // below. (Steps of 9 days cost seconds of CPU that starved the tests running beside.)
        for t in stride(from: POSIXRuleTests.utc(1583, 1, 1), to: POSIXRuleTests.utc(2200, 1, 1), by: 61 * 86400 + 7 * 3600 + 13 * 60 + 17) {
            instants += [Double(t), Double(t) + 0.25, Double(t) - 0.25]
        }
        for t in ZoneFoundationTests.ourTransitions(ours) {
            instants += [Double(t - 1), Double(t), Double(t) + 0.999]
        }
        var differences: [String] = []
        for t in instants where ISOTime.format(Self.date(t), in: ours) != reference.format(Self.date(t)) && differences.count < 5 {
            differences.append("\(t): ours \(ISOTime.format(Self.date(t), in: ours)), Foundation \(reference.format(Self.date(t)))")
        }
        #expect(differences == [])
    }

    // MARK: - Parsing

    @Test func parseKnownAnswers() throws {
        let berlin = try Self.zone("Europe/Berlin")
        let cases: [(String, Double)] = [
            ("2026-03-29T02:30:00+01:00", 1_774_747_800), ("2026-03-29T02:30:00Z", 1_774_751_400), ("2026-03-29T02:30:00z", 1_774_751_400),
            ("2026-03-29T02:30:00+0100", 1_774_747_800), ("2026-03-29T02:30:00+01", 1_774_747_800), ("2026-03-29T02:30:00-00:00", 1_774_751_400),
            ("2026-03-29T02:30:00+01:00:30", 1_774_747_770), ("2026-03-29T02:30:00-03:30", 1_774_764_000),
            ("2026-03-29", 1_774_738_800), ("2026-03-29 01:30", 1_774_744_200), ("2026-03-29T01:30", 1_774_744_200),
            ("2026-03-29 01:30:15", 1_774_744_215), ("2026-03-29T01:30:15", 1_774_744_215), ("2024-02-29", 1_709_161_200),
            // Spaces and tabs around are trimmed, Unicode's too (U+3000, U+200B), as Foundation did.
            ("  2026-03-29\t", 1_774_738_800), ("\u{3000}2026-03-29\u{200B}", 1_774_738_800),
        ]
        for (text, expected) in cases {
            #expect(ISOTime.parse(text, zone: berlin) == Self.date(expected), "\(text)")
        }
    }

    /// Wall times at the edges of daylight-saving changes: skipped ones are nil, repeated ones
    /// are the later instant (standard time), exactly as `DateFormatter` answered.
    @Test func wallTimesAtDaylightSavingEdges() throws {
        let cases: [(zone: String, text: String, expected: String?)] = [
            ("Europe/Berlin", "2026-03-29 01:59:59", "2026-03-29T01:59:59+01:00"),
            ("Europe/Berlin", "2026-03-29 02:00", nil),
            ("Europe/Berlin", "2026-03-29T02:30", nil),
            ("Europe/Berlin", "2026-03-29T02:59:59", nil),
            ("Europe/Berlin", "2026-03-29 03:00", "2026-03-29T03:00:00+02:00"),
            ("Europe/Berlin", "2026-10-25 01:59:59", "2026-10-25T01:59:59+02:00"),
            ("Europe/Berlin", "2026-10-25 02:00", "2026-10-25T02:00:00+01:00"),
            ("Europe/Berlin", "2026-10-25T02:30:00", "2026-10-25T02:30:00+01:00"),
            ("Europe/Berlin", "2026-10-25 02:59:59", "2026-10-25T02:59:59+01:00"),
            ("Europe/Berlin", "2026-10-25 03:00", "2026-10-25T03:00:00+01:00"),
            ("America/New_York", "2026-03-08 01:59", "2026-03-08T01:59:00-05:00"),
            ("America/New_York", "2026-03-08 02:00", nil),
            ("America/New_York", "2026-03-08T02:30", nil),
            ("America/New_York", "2026-03-08 03:00", "2026-03-08T03:00:00-04:00"),
            ("America/New_York", "2026-11-01 00:59", "2026-11-01T00:59:00-04:00"),
            ("America/New_York", "2026-11-01 01:00", "2026-11-01T01:00:00-05:00"),
            ("America/New_York", "2026-11-01T01:30:00", "2026-11-01T01:30:00-05:00"),
            ("America/New_York", "2026-11-01 02:00", "2026-11-01T02:00:00-05:00"),
            // A date whose midnight was skipped: Brazil began daylight time at 00:00.
            ("America/Sao_Paulo", "2018-11-04", nil),
            ("America/Sao_Paulo", "2018-11-05", "2018-11-05T00:00:00-02:00"),
            // A date that never happened in Samoa.
            ("Pacific/Apia", "2011-12-30", nil),
            ("Pacific/Apia", "2011-12-31", "2011-12-31T00:00:00+14:00"),
            // Lord Howe repeats half an hour.
            ("Australia/Lord_Howe", "2026-04-05 01:45", "2026-04-05T01:45:00+10:30"),
        ]
        for row in cases {
            let zone = try Self.zone(row.zone)
            let reference = FoundationISOTime(try #require(TimeZone(identifier: row.zone)))
            let parsed = ISOTime.parse(row.text, zone: zone)
            #expect(parsed.map { ISOTime.format($0, in: zone) } == row.expected, "\(row.zone) \(row.text)")
            #expect(parsed == reference.parse(row.text), "\(row.zone) \(row.text): Foundation differs")
        }
    }

    /// Every accepted form, around every change from 2000 to 2030 in zones with unusual ones,
    /// parsed by both: wall times every 10 minutes and a second either side of each edge, and
    /// each change's instant written with its offset in all the offset styles.
    @Test(
        .enabled(if: TzRelease.isShared, TzRelease.differs),
        arguments: [
            "Europe/Berlin", "America/New_York", "Australia/Lord_Howe", "Europe/Dublin", "America/Sao_Paulo", "Pacific/Apia",
            "Pacific/Chatham", "America/St_Johns", "Africa/Casablanca", "Antarctica/Troll", "Asia/Tehran",
        ])
    func parseMatchesFoundationAroundEveryChange(_ name: String) throws {
        let zone = try Self.zone(name)
        let reference = FoundationISOTime(try #require(TimeZone(identifier: name)))
        var texts: [String] = []
        for change in ZoneFoundationTests.ourTransitions(zone, from: POSIXRuleTests.utc(2014, 1, 1), to: POSIXRuleTests.utc(2030, 1, 1)) {
            let (before, after) = (change + Int64(zone.offset(at: change - 1)), change + Int64(zone.offset(at: change)))
            for wall in stride(from: min(before, after) - 7200, through: max(before, after) + 7200, by: 1800) {
                texts += [Self.wallText(wall, separator: "T", seconds: false), Self.wallText(wall, separator: " ", seconds: false)]
            }
            for wall in [before - 1, before, before + 1, after - 1, after, after + 1] {
                texts += [Self.wallText(wall, separator: "T", seconds: true), Self.wallText(wall, separator: " ", seconds: true)]
            }
            for day in -2...2 {
                let midnight = (floorDiv(before, 86400) + Int64(day)) * 86400
                texts.append(String(Self.wallText(midnight, separator: "T", seconds: false).prefix(10)))  // the date alone
            }
            for instant in [change - 1, change, change + 3599] {
                let written = reference.format(Self.date(Double(instant)))
                texts.append(written)
                if written.hasSuffix("Z") {
                    let head = String(written.dropLast())
                    texts += [head + "z", head + "+00:00", head + "-0000", head + "+00"]
                } else {
                    let (head, offset) = (String(written.dropLast(6)), written.suffix(6))  // "+hh:mm"
                    texts.append(head + offset.prefix(3) + offset.suffix(2))
                    if offset.hasSuffix("00") { texts.append(head + offset.prefix(3)) }
                }
            }
        }
        #expect(texts.count > 100)
        var differences: [String] = []
        for text in texts where ISOTime.parse(text, zone: zone) != reference.parse(text) && differences.count < 5 {
            differences.append("\(text): ours \(ISOTime.parse(text, zone: zone).map { "\($0.timeIntervalSince1970)" } ?? "nil"), Foundation \(reference.parse(text).map { "\($0.timeIntervalSince1970)" } ?? "nil")")
        }
        #expect(differences == [])
    }

    @Test(arguments: ZoneFoundationTests.zones) func formattedTimesParseBack(_ name: String) throws {
        let zone = try Self.zone(name)
        for t in stride(from: POSIXRuleTests.utc(1900, 1, 1), to: POSIXRuleTests.utc(2100, 1, 1), by: 29 * 86400 + 3 * 3600 + 7) {
            let date = Self.date(Double(t) + 0.5)
            #expect(ISOTime.parse(ISOTime.format(date, in: zone), zone: .utc) == Self.date(Double(t)))
        }
    }

    /// Malformed or impossible input: nil from both implementations.
    @Test(arguments: [
        "", " ", "2026", "2026-03", "2026-13-01", "2026-00-10", "2026-01-00", "2026-01-32", "2026-02-29", "2026-02-30", "2026-04-31", "2100-02-29",
        "2026-03-29T24:00", "2026-03-29 24:00:00", "2026-03-29T02:60", "2026-03-29T02:30:60", "2026-03-29T", "2026-03-29T02", "2026-03-29 02",
        "2026-03-29T02:30:00.5Z", "2026-03-29T02:30:00.500+01:00", "2026-03-29t02:30:00Z", "2026-03-29 02:30:00Z", "2026-03-29 02:30:00+01:00",
        "2026-03-29T02:30Z", "2026-03-29T02:30+01:00", "2026-03-29\n", "-2026-03-29", "+2026-03-29", "2026-03-29T02:30:00.5", "tomorrow",
        "2026-03-29x",
    ])
    func impossibleInputIsNil(_ text: String) throws {
        let newYork = try Self.zone("America/New_York")
        #expect(ISOTime.parse(text, zone: newYork) == nil)
        #expect(FoundationISOTime(try #require(TimeZone(identifier: "America/New_York"))).parse(text) == nil, "Foundation accepts \(text)")
    }

    /// What Foundation's formatters accepted beyond the forms above, and this parser refuses on
    /// purpose: ICU's leniency (one-digit fields, other separators, full-width digits, zone names,
    /// hour 24, trailing text after an offset), and offsets it read wrongly (`+24:00`, `+01:60`
    /// and `+1:00` gave other instants than they say).
    @Test(arguments: [
        "2026-3-9", "2026-03-29T2:30:00", "2026-03-29 2:30", "2026/03/29", "２０２６-03-29", "26-03-29", "12026-03-29", "2026-03-29  02:30",
        "2026-03-29T02:30:00 +01:00", "2026-03-29T02:30:00GMT", "2026-03-29T02:30:00UTC", "2026-03-29T02:30:00GMT+1", "2026-03-29T24:00:00Z",
        "2026-03-29T02:30:00+01:60", "2026-03-29T02:30:00+24:00", "2026-03-29T02:30:00+1:00", "2026-03-29T02:30:00+01:00x",
    ])
    func foundationsLeniencyIsNotKept(_ text: String) throws {
        #expect(ISOTime.parse(text, zone: try Self.zone("America/New_York")) == nil)
        #expect(FoundationISOTime(try #require(TimeZone(identifier: "America/New_York"))).parse(text) != nil)
    }

    // MARK: - Trimming

    @Test func trimmingMatchesFoundationForEveryScalar() throws {
        var differences: [UInt32] = []
        // Planes 0 to 3 hold every assigned character that is not private use; all of Unicode's
        // white space is in plane 0.
        for value in UInt32(0)...0x3FFFF {
            guard let scalar = Unicode.Scalar(value) else { continue }
            let text = String(scalar)
            if text.trimmingWhitespace().isEmpty != CharacterSet.whitespaces.contains(scalar)
                || text.trimmingWhitespaceAndNewlines().isEmpty != CharacterSet.whitespacesAndNewlines.contains(scalar)
            {
                differences.append(value)
            }
        }
        #expect(differences == [])
        // Scalars, not characters: a space before a combining accent goes, the accent stays.
        let accented = " \u{301}x "
        #expect(Array(accented.trimmingWhitespace().unicodeScalars) == Array(accented.trimmingCharacters(in: .whitespaces).unicodeScalars))
        #expect(DurationText.parse(" \n 1h30m\r\n") == .seconds(5400))
        #expect(try Trigger.parse("\t every 2h \u{3000}") == .interval(.seconds(7200)))
    }
}
