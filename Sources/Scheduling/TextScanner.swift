/// Reads ASCII text left to right, one byte at a time: all the small parsers here (POSIX TZ
/// rules, ISO timestamps) need. Working on UTF-8 bytes means no Unicode digits or lookalike
/// characters sneak in; anything that is not the expected ASCII simply fails to match.
struct TextScanner {
    private let bytes: [UInt8]
    private var index = 0

    init(_ text: some StringProtocol) {
        bytes = Array(text.utf8)
    }

    /// Whether every byte has been read.
    var isAtEnd: Bool { index == bytes.count }

    /// The next byte, not consumed.
    var next: UInt8? { index < bytes.count ? bytes[index] : nil }

    /// Consumes `character` if it comes next.
    mutating func skip(_ character: Unicode.Scalar) -> Bool {
        guard next == UInt8(ascii: character) else { return false }
        index += 1
        return true
    }

    /// Consumes bytes while `predicate` holds and returns how many it consumed.
    mutating func skip(while predicate: (UInt8) -> Bool) -> Int {
        let start = index
        while let byte = next, predicate(byte) { index += 1 }
        return index - start
    }

    /// Consumes a decimal number of `digits.lowerBound` to `digits.upperBound` ASCII digits (as
    /// many as there are, up to the upper bound). Nil, consuming nothing, when there are fewer.
    mutating func number(digits: ClosedRange<Int>) -> Int? {
        let start = index
        var value = 0
        while index - start < digits.upperBound, let byte = next, Self.isDigit(byte) {
            value = value * 10 + Int(byte - UInt8(ascii: "0"))
            index += 1
        }
        guard index - start >= digits.lowerBound else {
            index = start
            return nil
        }
        return value
    }

    static func isDigit(_ byte: UInt8) -> Bool { byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9") }
    static func isLetter(_ byte: UInt8) -> Bool {
        (byte >= UInt8(ascii: "a") && byte <= UInt8(ascii: "z")) || (byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z"))
    }
}
