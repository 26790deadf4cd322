import Foundation
@testable import Scheduling
import Testing

/// Writes TZif files (RFC 8536 layout) for tests, so that unusual and broken files can be made
/// on purpose. Abbreviations are all "UTC"; is-DST flags are 0; no indicators.
struct TZifWriter {
    /// `0` for version 1 (no 64-bit block, no footer), else `"2"`, `"3"`, `"4"` as ASCII.
    var version: UInt8 = UInt8(ascii: "2")
    var magic: [UInt8] = Array("TZif".utf8)
    /// UT offsets of the local time types; the first is type 0.
    var types: [Int32] = [0]
    var transitions: [(time: Int64, type: UInt8)] = []
    /// The footer's TZ string (version 2+); nil leaves the footer out entirely.
    var footer: String? = ""
    var leapRecords = 0

    func bytes() -> [UInt8] {
        var out = header(timeCount: version == 0 ? transitions.count : transitions32.count)
        out += block(version == 0 ? transitions : transitions32, timeSize: 4)
        guard version != 0 else { return out }
        out += header(timeCount: transitions.count)
        out += block(transitions, timeSize: 8)
        if let footer { out += Array("\n\(footer)\n".utf8) }
        return out
    }

    /// The transitions that fit the version 1 block's 32-bit timestamps.
    private var transitions32: [(time: Int64, type: UInt8)] {
        transitions.filter { Int64(Int32.min)...Int64(Int32.max) ~= $0.time }
    }

    private func header(timeCount: Int) -> [UInt8] {
        var out = magic + [version] + [UInt8](repeating: 0, count: 15)
        for count in [0, 0, leapRecords, timeCount, types.count, 4] { out += Self.bigEndian(UInt64(count), size: 4) }
        return out
    }

    private func block(_ transitions: [(time: Int64, type: UInt8)], timeSize: Int) -> [UInt8] {
        var out: [UInt8] = []
        for transition in transitions { out += Self.bigEndian(UInt64(bitPattern: transition.time), size: timeSize) }
        out += transitions.map(\.type)
        for offset in types { out += Self.bigEndian(UInt64(UInt32(bitPattern: offset)), size: 4) + [0, 0] }
        out += Array("UTC\0".utf8)
        out += [UInt8](repeating: 0, count: leapRecords * (timeSize + 4))
        return out
    }

    static func bigEndian(_ value: UInt64, size: Int) -> [UInt8] {
        (0..<size).reversed().map { UInt8(truncatingIfNeeded: value >> (8 * UInt64($0))) }
    }
}

/// Reading TZif: versions, the footer's role, and broken input that must give nil, not a crash.
@Suite struct TZifTests {
    static let berlinBytes: [UInt8] = {
        (try? Data(contentsOf: URL(fileURLWithPath: "/usr/share/zoneinfo/Europe/Berlin"))).map(Array.init) ?? []
    }()

    @Test func debianFilesAreFatVersion2WithAFooter() throws {
        // Debian builds tzdata with `zic -b fat`: transitions are listed up to 2037, and the footer
        // takes over after. (A slim file would stop at 1996, the last change of EU rules.)
        #expect(Self.berlinBytes.prefix(5).elementsEqual(Array("TZif2".utf8)))
        let rules = try #require(ZoneRules(tzif: Self.berlinBytes))
        #expect(rules.transitions.count > 100)
        #expect(civil(fromDays: floorDiv(rules.ruleStart, 86400)).year == 2037)
        #expect(rules.rule == POSIXRule("CET-1CEST,M3.5.0,M10.5.0/3"))
    }

    @Test func version1FilesUseTheirOnlyBlockAndTheLastOffsetContinues() throws {
        var writer = TZifWriter(version: 0, types: [3600, 7200, 0], transitions: [(1000, 1), (2000, 2)], footer: nil)
        let rules = try #require(ZoneRules(tzif: writer.bytes()))
        let offsets: [Int] = [999, 1000, 1999, 2000, 4_000_000_000].map { rules.offset(at: $0) }
        #expect(offsets == [3600, 7200, 7200, 0, 0])
        #expect(rules.nextTransition(after: 0) == 1000)
        #expect(rules.nextTransition(after: 1000) == 2000)
        #expect(rules.nextTransition(after: 2000) == nil)
        // The same file as version 2, 3 and 4 reads the same from the 64-bit block.
        for version in [UInt8(ascii: "2"), UInt8(ascii: "3"), UInt8(ascii: "4")] {
            writer.version = version
            writer.footer = ""
            let later = try #require(ZoneRules(tzif: writer.bytes()))
            #expect(later.offset(at: 1500) == 7200)
            #expect(later.offset(at: 4_000_000_000) == 0)
        }
    }

    @Test func the64BitBlockReachesBeyond2038() throws {
        // A transition in 2100 exists only in the 64-bit block; the version 1 block leaves it out.
        let writer = TZifWriter(types: [0, 3600], transitions: [(4_102_444_800, 1)])
        let rules = try #require(ZoneRules(tzif: writer.bytes()))
        #expect(rules.offset(at: 4_102_444_799) == 0)
        #expect(rules.offset(at: 4_102_444_800) == 3600)
    }

    @Test func theFooterDecidesAfterTheLastTransition() throws {
        // A "slim" file: one transition in 2000, then only the rule. 2026 follows the rule.
        let writer = TZifWriter(types: [0, 3600], transitions: [(946_684_800, 1)], footer: "CET-1CEST,M3.5.0,M10.5.0/3")
        let rules = try #require(ZoneRules(tzif: writer.bytes()))
        #expect(rules.offset(at: 946_684_799) == 0)
        #expect(rules.offset(at: 946_684_800) == 3600)
        #expect(rules.offset(at: POSIXRuleTests.utc(2026, 7, 1)) == 7200)
        #expect(rules.nextTransition(after: POSIXRuleTests.utc(2026, 1, 1)) == POSIXRuleTests.utc(2026, 3, 29, 1))
        // Before the last transition the table decides, even though the rule would say otherwise.
        #expect(rules.offset(at: POSIXRuleTests.utc(1999, 7, 1)) == 0)
        #expect(rules.nextTransition(after: 0) == 946_684_800)
        // With no transitions at all the footer decides everything (Debian's Etc/GMT+5 is such a file).
        let footerOnly = try #require(ZoneRules(tzif: TZifWriter(types: [-18000], footer: "<-05>5").bytes()))
        #expect(footerOnly.offset(at: -4_000_000_000) == -18000)
        #expect(footerOnly.nextTransition(after: 0) == nil)
    }

    @Test func transitionsThatKeepTheOffsetAreDropped() throws {
        // Types 1 and 2 have the same offset (say, a new abbreviation): only real changes remain.
        let writer = TZifWriter(types: [0, 3600, 3600, 0], transitions: [(100, 1), (200, 2), (300, 3)])
        let rules = try #require(ZoneRules(tzif: writer.bytes()))
        #expect(rules.transitions == [100, 300])
        #expect(rules.nextTransition(after: 100) == 300)
    }

    @Test func everyTruncationOfARealFileIsRefused() {
        #expect(!Self.berlinBytes.isEmpty)
        for length in 0..<Self.berlinBytes.count {
            #expect(ZoneRules(tzif: Array(Self.berlinBytes.prefix(length))) == nil, "prefix of \(length) bytes")
        }
        #expect(ZoneRules(tzif: Self.berlinBytes) != nil)
    }

    @Test func corruptedFilesNeverCrash() {
        // Deterministic byte flips in a real file: the result may or may not parse, but nothing
        // may trap (a trap would end the test run here).
        var state: UInt64 = 0x9E37_79B9_7F4A_7C15
        func random() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        var parsed = 0
        for _ in 0..<3000 {
            var bytes = Self.berlinBytes
            for _ in 0..<(1 + Int(random() % 4)) {
                bytes[Int(random() % UInt64(bytes.count))] = UInt8(truncatingIfNeeded: random())
            }
            if let rules = ZoneRules(tzif: bytes) {
                parsed += 1
                _ = rules.offset(at: Int64(bitPattern: random()) >> 20)
                _ = rules.nextTransition(after: Int64(bitPattern: random()) >> 20)
            }
        }
        #expect(parsed > 0)  // most flips land in data that is not checked, such as abbreviations
    }

    @Test func malformedFilesAreRefused() {
        let good = TZifWriter(types: [0, 3600], transitions: [(100, 1)], footer: "<+01>-1")
        #expect(ZoneRules(tzif: good.bytes()) != nil)
        var cases: [(String, [UInt8])] = [("empty", []), ("text", Array("Europe/Berlin\n".utf8))]
        var writer = good
        writer.magic = Array("TZiF".utf8)
        cases.append(("wrong magic", writer.bytes()))
        for version in [UInt8(ascii: "1"), UInt8(ascii: "5"), 0xFF] {
            writer = good
            writer.version = version
            cases.append(("version \(version)", writer.bytes()))
        }
        writer = good
        writer.types = []
        cases.append(("no types", writer.bytes()))
        writer = good
        writer.transitions = [(100, 2)]
        cases.append(("type index out of range", writer.bytes()))
        writer = good
        writer.transitions = [(200, 1), (100, 0)]
        cases.append(("transitions out of order", writer.bytes()))
        writer = good
        writer.transitions = [(100, 1), (100, 0)]
        cases.append(("transitions not strictly ascending", writer.bytes()))
        writer = good
        writer.types = [0, Int32.min]
        cases.append(("offset -2^31", writer.bytes()))
        writer.types = [0, 100_000]
        cases.append(("offset beyond 26 hours", writer.bytes()))
        writer = good
        writer.leapRecords = 1
        cases.append(("leap seconds", writer.bytes()))
        writer = good
        writer.footer = "CET-1CEST"
        cases.append(("footer without a rule", writer.bytes()))
        writer.footer = nil
        cases.append(("no footer", writer.bytes()))
        var unterminated = good.bytes()
        unterminated.removeLast()
        cases.append(("footer without its final newline", unterminated))
        // A count far beyond the data: refused before anything is reserved.
        var huge = good.bytes()
        huge.replaceSubrange(32..<36, with: [0x00, 0xFF, 0xFF, 0xFF])
        cases.append(("huge transition count", huge))
        huge.replaceSubrange(32..<36, with: [0xFF, 0xFF, 0xFF, 0xFF])
        cases.append(("transition count 2^32-1", huge))
        for (name, bytes) in cases {
            #expect(ZoneRules(tzif: bytes) == nil, "\(name)")
        }
    }
}
