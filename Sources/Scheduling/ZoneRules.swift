/// A zone's UTC offsets through time, read from a TZif file (RFC 8536): a table of past
/// transitions, then a POSIX rule (the file's footer) for every instant after the last one.
///
/// Only what the offset needs is kept: abbreviations and the daylight-saving flag are dropped,
/// and so are transitions that change only those, so every entry in the table is a real change
/// of the offset and ``nextTransition(after:)`` is a plain lookup.
struct ZoneRules: Sendable {
    /// The offset before the first transition (time type 0, as RFC 8536 §3.2 says), or all the
    /// time when the file has neither transitions nor a footer rule.
    let initialOffset: Int
    /// Instants (Unix seconds, ascending) at which the offset changes.
    let transitions: [Int64]
    /// `offsets[i]` is the offset from `transitions[i]` until the next transition. Int32 because
    /// a TZif offset is one, and a fat file has a few hundred of them per zone.
    let offsets: [Int32]
    /// The footer's rule, which decides every instant from `ruleStart` on; nil when the footer is
    /// empty (or the file is version 1), and then the last offset simply continues.
    let rule: POSIXRule?
    /// The file's last transition, kept in the table or not: the rule is only authoritative from
    /// there. `Int64.min` when there are no transitions, so the rule decides everything.
    let ruleStart: Int64

    /// UTC: offset 0, no transitions.
    static let utc = ZoneRules(initialOffset: 0, transitions: [], offsets: [], rule: nil, ruleStart: .min)

    init(initialOffset: Int, transitions: [Int64], offsets: [Int32], rule: POSIXRule?, ruleStart: Int64) {
        self.initialOffset = initialOffset
        self.transitions = transitions
        self.offsets = offsets
        self.rule = rule
        self.ruleStart = ruleStart
    }

    // MARK: - Lookups

    /// The UTC offset at `t` (Unix seconds), in seconds east of UTC.
    func offset(at t: Int64) -> Int {
        if let rule, t >= ruleStart { return rule.offset(at: t) }
        let passed = countOfTransitions(atOrBefore: t)
        return passed == 0 ? initialOffset : Int(offsets[passed - 1])
    }

    /// The first instant after `t` at which the offset changes, or nil when it never does again.
    func nextTransition(after t: Int64) -> Int64? {
        let passed = countOfTransitions(atOrBefore: t)
        if passed < transitions.count, rule == nil || transitions[passed] < ruleStart { return transitions[passed] }
        guard let rule else { return nil }
        // At `ruleStart` the table hands over to the rule. Whether the offset changes there is
        // decided by both sides, not by the table alone: some zic versions wrote a footer that
        // disagrees with the file's last entry (glibc 2.36's zic, slim America/Ojinaga), and
        // `offset(at:)` follows the footer there, as glibc does.
        if t < ruleStart, offset(at: ruleStart) != offset(at: ruleStart - 1) { return ruleStart }
        return rule.nextTransition(after: max(t, ruleStart))
    }

    /// Binary search: how many transitions happened at or before `t`.
    private func countOfTransitions(atOrBefore t: Int64) -> Int {
        var low = 0
        var high = transitions.count
        while low < high {
            let middle = (low + high) / 2
            if transitions[middle] <= t { low = middle + 1 } else { high = middle }
        }
        return low
    }

    // MARK: - Reading TZif

    /// Reads a TZif file of version 1, 2, 3 or 4; nil for anything malformed. Versions 2 and
    /// later are read from their 64-bit data block and footer, version 1 from its 32-bit block.
    ///
    /// Files with leap-second records (the `right/` tree) are refused: their timestamps count
    /// leap seconds, and `Date` and everything else in this process does not.
    init?(tzif bytes: [UInt8]) {
        var reader = ByteReader(bytes)
        guard var header = Header(&reader) else { return nil }
        var timeSize = 4
        if header.version != 0 {
            // The version 1 block comes first for old readers; skip it for the 64-bit one.
            guard reader.skip(header.dataBlockSize(timeSize: 4)), let second = Header(&reader) else { return nil }
            header = second
            timeSize = 8
        }
        // Checking the size up front means the loops below cannot run past the end, and a
        // corrupt count cannot make us reserve gigabytes.
        guard header.leapCount == 0, reader.remaining >= header.dataBlockSize(timeSize: timeSize) else { return nil }

        var times: [Int64] = []
        times.reserveCapacity(header.timeCount)
        for _ in 0..<header.timeCount {
            guard let time = timeSize == 8 ? reader.int64() : reader.int32().map(Int64.init),
                times.last.map({ $0 < time }) ?? true  // RFC 8536: strictly ascending
            else { return nil }
            times.append(time)
        }
        var typeIndices: [Int] = []
        typeIndices.reserveCapacity(header.timeCount)
        for _ in 0..<header.timeCount {
            guard let index = reader.byte().map(Int.init), index < header.typeCount else { return nil }
            typeIndices.append(index)
        }
        var typeOffsets: [Int32] = []
        for _ in 0..<header.typeCount {
            // Each local time type: UT offset (i32), is-DST (u8), abbreviation index (u8).
            guard let offset = reader.int32(), (-89_999...93_599).contains(offset), reader.skip(2) else { return nil }
            typeOffsets.append(offset)
        }
        // Abbreviations, (no) leap seconds, standard/wall and UT/local indicators: not needed.
        guard reader.skip(header.characterCount + header.standardIndicatorCount + header.utIndicatorCount) else { return nil }

        var rule: POSIXRule?
        if timeSize == 8 {
            // The footer: a newline, a TZ string (possibly empty), a newline.
            guard reader.byte() == UInt8(ascii: "\n"), let text = reader.bytes(upTo: UInt8(ascii: "\n")) else { return nil }
            if !text.isEmpty {
                guard let parsed = POSIXRule(String(decoding: text, as: UTF8.self)) else { return nil }
                rule = parsed
            }
        }

        var transitions: [Int64] = []
        var offsets: [Int32] = []
        var current = typeOffsets[0]
        for (time, index) in zip(times, typeIndices) where typeOffsets[index] != current {
            current = typeOffsets[index]
            transitions.append(time)
            offsets.append(current)
        }
        self.init(
            initialOffset: Int(typeOffsets[0]), transitions: transitions, offsets: offsets,
            rule: rule, ruleStart: times.last ?? .min)
    }

    /// A TZif header (RFC 8536 §3.1): magic, version, and the six counts of the data block.
    private struct Header {
        var version: UInt8
        var utIndicatorCount: Int
        var standardIndicatorCount: Int
        var leapCount: Int
        var timeCount: Int
        var typeCount: Int
        var characterCount: Int

        init?(_ reader: inout ByteReader) {
            guard let magic = reader.bytes(count: 4), magic.elementsEqual("TZif".utf8),
                let version = reader.byte(), [0, UInt8(ascii: "2"), UInt8(ascii: "3"), UInt8(ascii: "4")].contains(version),
                reader.skip(15),
                let utIndicatorCount = reader.count(), let standardIndicatorCount = reader.count(),
                let leapCount = reader.count(), let timeCount = reader.count(),
                let typeCount = reader.count(), let characterCount = reader.count()
            else { return nil }
            // The RFC's consistency rules; type indices are bytes, so at most 256 types.
            guard (1...256).contains(typeCount), characterCount >= 1,
                utIndicatorCount == 0 || utIndicatorCount == typeCount,
                standardIndicatorCount == 0 || standardIndicatorCount == typeCount
            else { return nil }
            self.version = version
            self.utIndicatorCount = utIndicatorCount
            self.standardIndicatorCount = standardIndicatorCount
            self.leapCount = leapCount
            self.timeCount = timeCount
            self.typeCount = typeCount
            self.characterCount = characterCount
        }

        /// Bytes in the data block that follows this header, with `timeSize`-byte timestamps.
        func dataBlockSize(timeSize: Int) -> Int {
            timeCount * (timeSize + 1) + typeCount * 6 + characterCount + leapCount * (timeSize + 4)
                + standardIndicatorCount + utIndicatorCount
        }
    }

    /// Big-endian reads from a byte array that fail, rather than trap, past the end.
    private struct ByteReader {
        private let data: [UInt8]
        private var index = 0

        init(_ data: [UInt8]) { self.data = data }

        var remaining: Int { data.count - index }

        mutating func skip(_ count: Int) -> Bool {
            guard count >= 0, count <= remaining else { return false }
            index += count
            return true
        }

        mutating func bytes(count: Int) -> ArraySlice<UInt8>? {
            guard count >= 0, count <= remaining else { return nil }
            defer { index += count }
            return data[index..<index + count]
        }

        /// The bytes before the next `terminator`, consuming both; nil when there is none.
        mutating func bytes(upTo terminator: UInt8) -> ArraySlice<UInt8>? {
            guard let end = data[index...].firstIndex(of: terminator) else { return nil }
            defer { index = end + 1 }
            return data[index..<end]
        }

        mutating func byte() -> UInt8? { bytes(count: 1)?.first }

        mutating func int32() -> Int32? { integer(size: 4).map { Int32(truncatingIfNeeded: $0) } }

        mutating func int64() -> Int64? { integer(size: 8).map { Int64(bitPattern: $0) } }

        /// A four-byte unsigned count. Kept below 2^24, far above any real file, so that sizes
        /// computed from counts can never overflow.
        mutating func count() -> Int? {
            guard let value = integer(size: 4), value < 1 << 24 else { return nil }
            return Int(value)
        }

        private mutating func integer(size: Int) -> UInt64? {
            guard let slice = bytes(count: size) else { return nil }
            return slice.reduce(0) { $0 << 8 | UInt64($1) }
        }
    }
}
