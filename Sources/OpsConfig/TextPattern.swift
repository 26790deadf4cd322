/// A regular expression for `body_matches`, matched in time proportional to the text's length
/// times the pattern's size, with memory proportional to the pattern alone, whatever the pattern.
///
/// Backtracking engines (Swift's `Regex`, PCRE) take exponential time on patterns such as
/// `(a+)+$`: 31 bytes of body held opsd's event loop, and nothing could interrupt it. glibc's
/// POSIX `regexec` is no way out either: an unanchored search restarts at every position
/// (quadratic: 93 s for `(a+)+b` on 100 KB) and its DFA cache grows without bound (2 GB for
/// `a(a|b){20}c` on 1 MiB of random a/b). So, as RE2 and Go's regexp do, the pattern is compiled
/// to an NFA and simulated with every alternative advanced in step (a Pike VM without captures).
/// Features that need backtracking (back-references, lookaround, possessive quantifiers) are
/// refused when the config is read, with a sentence that says so; `docs/checks.md` lists the syntax.
public struct TextPattern: Sendable, Equatable {
    /// The pattern as written.
    public let source: String
    let program: [Instruction]

    /// The largest program a pattern may compile to (counted repetitions are expanded, so
    /// `(a{100}){100}` is 10000). Matching costs at most this much per character; room for
    /// `^x{1000}$` and any pattern written by hand.
    public static let maximumSize = 2000
    /// The largest count in `{n}`, `{n,}`, `{n,m}`.
    public static let maximumCount = 1000

    /// Compiles `source`, or says in one sentence what is wrong with it.
    public init(_ source: String) throws(SyntaxError) {
        self.source = source
        var parser = PatternParser(Array(source.unicodeScalars))
        let tree = try parser.parse()
        let size = tree.size + 1
        guard size <= Self.maximumSize else {
            throw SyntaxError("expands to \(size > Self.maximumSize * 1000 ? "over \(Self.maximumSize * 1000)" : "\(size)") steps (repetitions counted out), more than the \(Self.maximumSize) a body pattern may have; simplify it")
        }
        var program: [Instruction] = []
        program.reserveCapacity(size)
        tree.emit(into: &program)
        program.append(.match)
        self.program = program
    }

    /// Why a pattern cannot be used.
    public struct SyntaxError: Error, Sendable, Equatable, CustomStringConvertible {
        /// One sentence, without the pattern itself.
        public let description: String
        init(_ description: String) { self.description = description }
    }

    public static func == (lhs: TextPattern, rhs: TextPattern) -> Bool { lhs.source == rhs.source }
}

/// One step of the compiled program.
enum Instruction: Sendable {
    /// Consumes one character of the class.
    case character(ScalarClass)
    /// Consumes this one character (the common case, kept apart from `character` so that
    /// matching it copies no array).
    case scalar(UInt32)
    /// Consumes any character but a newline (`.`).
    case notNewline
    /// Continues at both targets.
    case split(Int, Int)
    case jump(Int)
    /// Continues only where the assertion holds (consumes nothing).
    case assert(Assertion)
    case match
}

/// Zero-width conditions on the position between two characters.
enum Assertion: Sendable {
    /// `^`, `\A`: the start of the text.
    case start
    /// `$`, `\Z`: the end of the text, or before a newline that ends it (as in Perl).
    case end
    /// `\z`: the very end of the text.
    case absoluteEnd
    /// `\b`, `\B`: between a word character and a non-word character, or not.
    case wordBoundary(Bool)
}

/// A set of characters: ranges of Unicode scalar values, possibly negated.
struct ScalarClass: Sendable {
    var ranges: [ClosedRange<UInt32>]
    var negated = false

    func contains(_ scalar: Unicode.Scalar) -> Bool {
        ranges.contains { $0.contains(scalar.value) } != negated
    }

    static func single(_ scalar: Unicode.Scalar) -> ScalarClass { ScalarClass(ranges: [scalar.value...scalar.value]) }
    static let anyButNewline = ScalarClass(ranges: [10...10], negated: true)
    static let digit = ScalarClass(ranges: [48...57])
    static let word = ScalarClass(ranges: [48...57, 65...90, 95...95, 97...122])
    static let space = ScalarClass(ranges: [9...13, 32...32])
    /// The POSIX classes a bracket expression may name (`[[:alpha:]]`), ASCII only.
    static let named: [String: [ClosedRange<UInt32>]] = [
        "alpha": [65...90, 97...122], "digit": [48...57], "alnum": [48...57, 65...90, 97...122], "upper": [65...90],
        "lower": [97...122], "space": [9...13, 32...32], "xdigit": [48...57, 65...70, 97...102],
        "punct": [33...47, 58...64, 91...96, 123...126], "word": [48...57, 65...90, 95...95, 97...122],
    ]
}

/// The parsed pattern.
indirect enum PatternTree {
    case empty
    case character(ScalarClass)
    case assert(Assertion)
    case sequence([PatternTree])
    case alternatives([PatternTree])
    case repetition(PatternTree, min: Int, max: Int?)

    /// Instructions it compiles to; saturates far above `TextPattern.maximumSize`.
    var size: Int {
        let cap = TextPattern.maximumSize * 1000
        switch self {
        case .empty: return 0
        case .character, .assert: return 1
        case .sequence(let parts): return min(cap, parts.reduce(0) { $0 + $1.size })
        case .alternatives(let options): return min(cap, options.reduce(0) { $0 + $1.size } + 2 * (options.count - 1))
        case .repetition(let body, let low, let high):
            let one = body.size
            let optional = high.map { ($0 - low) * (one + 1) } ?? (one + 2)
            return min(cap, low * one + optional)
        }
    }

    func emit(into program: inout [Instruction]) {
        switch self {
        case .empty:
            break
        case .character(let set):
            if !set.negated, set.ranges.count == 1, set.ranges[0].count == 1 {
                program.append(.scalar(set.ranges[0].lowerBound))
            } else if set.negated, set.ranges == [10...10] {
                program.append(.notNewline)
            } else {
                program.append(.character(set))
            }
        case .assert(let assertion):
            program.append(.assert(assertion))
        case .sequence(let parts):
            for part in parts { part.emit(into: &program) }
        case .alternatives(let options):
            var jumps: [Int] = []
            for (index, option) in options.enumerated() {
                if index < options.count - 1 {
                    let split = program.count
                    program.append(.jump(0))
                    option.emit(into: &program)
                    jumps.append(program.count)
                    program.append(.jump(0))
                    program[split] = .split(split + 1, program.count)
                } else {
                    option.emit(into: &program)
                }
            }
            for jump in jumps { program[jump] = .jump(program.count) }
        case .repetition(let body, let low, let high):
            for _ in 0..<low { body.emit(into: &program) }
            if let high {
                // Each optional copy may be skipped, to after the last one.
                var splits: [Int] = []
                for _ in low..<high {
                    splits.append(program.count)
                    program.append(.jump(0))
                    body.emit(into: &program)
                }
                for split in splits { program[split] = .split(split + 1, program.count) }
            } else {
                let loop = program.count
                program.append(.jump(0))
                body.emit(into: &program)
                program.append(.jump(loop))
                program[loop] = .split(loop + 1, program.count)
            }
        }
    }
}

/// Recursive descent over the pattern's Unicode scalars.
struct PatternParser {
    let text: [Unicode.Scalar]
    var position = 0
    var depth = 0

    init(_ text: [Unicode.Scalar]) { self.text = text }

    private var current: Unicode.Scalar? { position < text.count ? text[position] : nil }

    mutating func parse() throws(TextPattern.SyntaxError) -> PatternTree {
        let tree = try alternatives()
        if current == ")" { throw TextPattern.SyntaxError("has a \")\" without its \"(\"; write \\) for a literal parenthesis") }
        return tree
    }

    private mutating func alternatives() throws(TextPattern.SyntaxError) -> PatternTree {
        var options = [try sequence()]
        while current == "|" {
            position += 1
            options.append(try sequence())
        }
        return options.count == 1 ? options[0] : .alternatives(options)
    }

    private mutating func sequence() throws(TextPattern.SyntaxError) -> PatternTree {
        var parts: [PatternTree] = []
        while let scalar = current, scalar != "|", scalar != ")" {
            parts.append(try repeated(try atom()))
        }
        return parts.isEmpty ? .empty : parts.count == 1 ? parts[0] : .sequence(parts)
    }

    private mutating func repeated(_ atom: PatternTree) throws(TextPattern.SyntaxError) -> PatternTree {
        var bounds: (Int, Int?)
        switch current {
        case "*": bounds = (0, nil); position += 1
        case "+": bounds = (1, nil); position += 1
        case "?": bounds = (0, 1); position += 1
        case "{":
            guard let counted = try count() else { return atom }
            bounds = counted
        default: return atom
        }
        if case .assert = atom { throw TextPattern.SyntaxError("repeats an anchor (^, $, \\b), which matches no characters; remove the quantifier") }
        // A lazy quantifier finds the same matches (only which one first differs, and a body
        // pattern only asks whether there is one); a possessive one needs backtracking.
        if current == "?" { position += 1 } else if current == "+" {
            throw TextPattern.SyntaxError("uses a possessive quantifier (*+, ++, ?+), which needs backtracking; write it without the second +")
        }
        if let next = current, "*+?".unicodeScalars.contains(next) || (next == "{" && startsCount()) {
            throw TextPattern.SyntaxError("has two quantifiers in a row; put the repeated part in parentheses, e.g. (a+)*")
        }
        return .repetition(atom, min: bounds.0, max: bounds.1)
    }

    /// Whether the `{` here starts a counted quantifier (a well-formed one or not).
    private func startsCount() -> Bool {
        var copy = self
        do { return try copy.count() != nil } catch { return true }
    }

    /// `{n}`, `{n,}` or `{n,m}`; nil (nothing consumed) when the brace starts no count, which
    /// makes it a literal `{`, as in Perl.
    private mutating func count() throws(TextPattern.SyntaxError) -> (Int, Int?)? {
        var index = position + 1
        func number() -> Int? {
            var digits = ""
            while index < text.count, let digit = text[index].properties.numericType, digit == .decimal, text[index].isASCII {
                digits.unicodeScalars.append(text[index])
                index += 1
            }
            return digits.isEmpty ? nil : Int(digits.prefix(7))
        }
        guard let low = number() else { return nil }
        var high: Int? = low
        if index < text.count, text[index] == "," {
            index += 1
            high = number()
        }
        guard index < text.count, text[index] == "}" else { return nil }
        position = index + 1
        if let high, high < low { throw TextPattern.SyntaxError("has the count {\(low),\(high)}, whose maximum is below its minimum") }
        guard max(low, high ?? 0) <= TextPattern.maximumCount else {
            throw TextPattern.SyntaxError("repeats something more than \(TextPattern.maximumCount) times; a body pattern never needs that many")
        }
        return (low, high)
    }

    private mutating func atom() throws(TextPattern.SyntaxError) -> PatternTree {
        guard let scalar = current else { return .empty }
        position += 1
        switch scalar {
        case "(": return try group()
        case ".": return .character(.anyButNewline)
        case "^": return .assert(.start)
        case "$": return .assert(.end)
        case "[": return .character(try bracket())
        case "\\": return try escape()
        case "*", "+", "?":
            throw TextPattern.SyntaxError("has \"\(scalar)\" with nothing before it to repeat; write \\\(scalar) for a literal \(scalar)")
        case "{":
            position -= 1
            if startsCount() { throw TextPattern.SyntaxError("has a count {…} with nothing before it to repeat") }
            position += 1
            return .character(.single(scalar))
        default: return .character(.single(scalar))
        }
    }

    private mutating func group() throws(TextPattern.SyntaxError) -> PatternTree {
        if current == "?" {
            let next = position + 1 < text.count ? text[position + 1] : nil
            switch next {
            case ":": position += 2
            case "<" where position + 2 < text.count && text[position + 2] != "=" && text[position + 2] != "!",
                 "P" where position + 2 < text.count && text[position + 2] == "<":
                // A named group: its name matters only for captures, which a body pattern has none of.
                guard let close = text[position...].firstIndex(of: ">") else { throw TextPattern.SyntaxError("has a group name without its closing \">\"") }
                position = close + 1
            case "=", "!", "<":
                throw TextPattern.SyntaxError("uses lookaround ((?=, (?!, (?<=, (?<!), which needs backtracking; match the text itself instead")
            default:
                throw TextPattern.SyntaxError("uses a (?…) group other than (?:…) or a named group; inline options such as (?i) are not supported, write [Oo][Kk] for either case")
            }
        }
        depth += 1
        defer { depth -= 1 }
        guard depth <= 100 else { throw TextPattern.SyntaxError("nests groups more than 100 deep") }
        let inner = try alternatives()
        guard current == ")" else { throw TextPattern.SyntaxError("has a \"(\" without its \")\"; write \\( for a literal parenthesis") }
        position += 1
        return inner
    }

    private mutating func escape() throws(TextPattern.SyntaxError) -> PatternTree {
        guard let scalar = current else { throw TextPattern.SyntaxError("ends with a lone backslash; write \\\\ for a literal one") }
        position += 1
        switch scalar {
        case "b": return .assert(.wordBoundary(true))
        case "B": return .assert(.wordBoundary(false))
        case "A": return .assert(.start)
        case "Z": return .assert(.end)
        case "z": return .assert(.absoluteEnd)
        case "1"..."9":
            throw TextPattern.SyntaxError("uses a back-reference (\\\(scalar)), which cannot be matched in linear time; repeat the text instead")
        default:
            return .character(try classEscape(scalar))
        }
    }

    /// What `\x` stands for as a character class, inside or outside brackets.
    private mutating func classEscape(_ scalar: Unicode.Scalar) throws(TextPattern.SyntaxError) -> ScalarClass {
        switch scalar {
        case "d": return .digit
        case "D": return ScalarClass(ranges: ScalarClass.digit.ranges, negated: true)
        case "w": return .word
        case "W": return ScalarClass(ranges: ScalarClass.word.ranges, negated: true)
        case "s": return .space
        case "S": return ScalarClass(ranges: ScalarClass.space.ranges, negated: true)
        case "n": return .single("\n")
        case "t": return .single("\t")
        case "r": return .single("\r")
        case "f": return .single("\u{0C}")
        case "v": return .single("\u{0B}")
        case "x":
            var digits = ""
            if current == "{" {
                guard let close = text[position...].firstIndex(of: "}") else { throw TextPattern.SyntaxError("has \\x{ without its closing }") }
                digits = String(String.UnicodeScalarView(text[(position + 1)..<close]))
                position = close + 1
            } else {
                while digits.count < 2, let digit = current, digit.properties.isASCIIHexDigit {
                    digits.unicodeScalars.append(digit)
                    position += 1
                }
            }
            guard let value = UInt32(digits, radix: 16), let result = Unicode.Scalar(value) else {
                throw TextPattern.SyntaxError("has \\x without a hexadecimal character code; write e.g. \\x41 or \\x{263A}")
            }
            return .single(result)
        default:
            guard !scalar.properties.isAlphabetic, !("0"..."9").contains(scalar) else {
                throw TextPattern.SyntaxError("uses \\\(scalar), which body patterns do not support; see docs/checks.md for the syntax")
            }
            return .single(scalar)
        }
    }

    /// A bracket expression, after its `[`.
    private mutating func bracket() throws(TextPattern.SyntaxError) -> ScalarClass {
        var set = ScalarClass(ranges: [])
        if current == "^" {
            set.negated = true
            position += 1
        }
        var first = true
        while true {
            guard let scalar = current else { throw TextPattern.SyntaxError("has a \"[\" without its \"]\"; write \\[ for a literal bracket") }
            if scalar == "]", !first {
                position += 1
                return set
            }
            first = false
            if scalar == "[" {
                guard position + 1 < text.count, text[position + 1] == ":" else {
                    throw TextPattern.SyntaxError("has a \"[\" inside a bracket expression; write \\[ for a literal one (nested classes are not supported)")
                }
                let rest = text[(position + 2)...]
                guard let colon = rest.firstIndex(of: ":"), colon + 1 < text.count, text[colon + 1] == "]",
                      let ranges = ScalarClass.named[String(String.UnicodeScalarView(text[(position + 2)..<colon]))] else {
                    throw TextPattern.SyntaxError("names a character class other than [:alpha:], [:digit:], [:alnum:], [:upper:], [:lower:], [:space:], [:xdigit:], [:punct:], [:word:]")
                }
                set.ranges += ranges
                position = colon + 2
                continue
            }
            let low = try bracketMember()
            guard case .single(let lowScalar) = low else {
                if case .set(let members) = low { set.ranges += members }
                continue
            }
            if current == "-", position + 1 < text.count, text[position + 1] != "]" {
                position += 1
                guard case .single(let highScalar) = try bracketMember() else {
                    throw TextPattern.SyntaxError("has a range ending in a class such as \\d; write the range's last character")
                }
                guard lowScalar.value <= highScalar.value else {
                    throw TextPattern.SyntaxError("has the range \(lowScalar)-\(highScalar), which runs backwards")
                }
                set.ranges.append(lowScalar.value...highScalar.value)
            } else {
                set.ranges.append(lowScalar.value...lowScalar.value)
            }
        }
    }

    private enum Member { case single(Unicode.Scalar), set([ClosedRange<UInt32>]) }

    private mutating func bracketMember() throws(TextPattern.SyntaxError) -> Member {
        guard let scalar = current else { throw TextPattern.SyntaxError("has a \"[\" without its \"]\"; write \\[ for a literal bracket") }
        position += 1
        guard scalar == "\\" else { return .single(scalar) }
        guard let escaped = current else { throw TextPattern.SyntaxError("ends with a lone backslash; write \\\\ for a literal one") }
        position += 1
        if escaped == "b" { return .single("\u{08}") }
        let set = try classEscape(escaped)
        if set.negated { throw TextPattern.SyntaxError("uses \\\(escaped) inside a bracket expression; use [^…] around the class instead") }
        return set.ranges.count == 1 && set.ranges[0].count == 1 ? .single(Unicode.Scalar(set.ranges[0].lowerBound) ?? escaped) : .set(set.ranges)
    }
}
