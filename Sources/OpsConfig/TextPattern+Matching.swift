extension TextPattern {
    /// Whether the pattern matches somewhere in `text`; nil when `shouldStop` returned true
    /// first. It is asked every 4096 characters, so a caller with a deadline can end the work,
    /// not only stop waiting for it.
    ///
    /// Every alternative advances in step over the text, once per character (a Pike VM): the
    /// cost is at most the text's length times the program's size, and the memory two lists
    /// of the program's size.
    public func matches(_ text: String, shouldStop: () -> Bool = { false }) -> Bool? {
        let scalars = text.unicodeScalars
        var live = ThreadList(capacity: program.count)
        var waiting: [Int] = []
        var stack: [Int] = []
        var index = scalars.startIndex
        var previous: Unicode.Scalar?
        var steps = 0
        while true {
            let scalar: Unicode.Scalar? = index < scalars.endIndex ? scalars[index] : nil
            let after = scalar == nil ? index : scalars.index(after: index)
            let position = Position(previous: previous, current: scalar, finalNewline: scalar == "\n" && after == scalars.endIndex)
            live.removeAll()
            // The threads that consumed the last character continue; a new one starts here,
            // since a match may begin anywhere.
            waiting.append(0)
            for start in waiting {
                if follow(start, into: &live, at: position, stack: &stack) { return true }
            }
            guard let scalar else { return false }
            waiting.removeAll(keepingCapacity: true)
            for counter in live.members {
                let consumes = switch program[counter] {
                case .scalar(let value): value == scalar.value
                case .notNewline: scalar != "\n"
                case .character(let set): set.contains(scalar)
                default: false
                }
                if consumes { waiting.append(counter + 1) }
            }
            previous = scalar
            index = after
            steps += 1
            if steps & 4095 == 0, shouldStop() { return nil }
        }
    }

    /// Adds `start` and everything reachable from it without consuming a character; true when
    /// that reaches the end of the program (a match).
    private func follow(_ start: Int, into live: inout ThreadList, at position: Position, stack: inout [Int]) -> Bool {
        stack.append(start)
        while let counter = stack.popLast() {
            guard live.insert(counter) else { continue }
            switch program[counter] {
            case .match:
                stack.removeAll(keepingCapacity: true)
                return true
            case .jump(let target):
                stack.append(target)
            case .split(let first, let second):
                stack.append(second)
                stack.append(first)
            case .assert(let assertion):
                if position.satisfies(assertion) { stack.append(counter + 1) }
            case .character, .scalar, .notNewline:
                break
            }
        }
        return false
    }
}

/// The place between two characters of the text, for assertions.
private struct Position {
    let previous: Unicode.Scalar?
    let current: Unicode.Scalar?
    /// The current character is a newline that ends the text.
    let finalNewline: Bool

    func satisfies(_ assertion: Assertion) -> Bool {
        switch assertion {
        case .start: return previous == nil
        case .end: return current == nil || finalNewline
        case .absoluteEnd: return current == nil
        case .wordBoundary(let wanted): return (Self.isWord(previous) != Self.isWord(current)) == wanted
        }
    }

    private static func isWord(_ scalar: Unicode.Scalar?) -> Bool {
        scalar.map { ScalarClass.word.contains($0) } ?? false
    }
}

/// A set of program counters with constant-time insert, membership and clearing, in insertion
/// order (a sparse set).
private struct ThreadList {
    private var dense: [Int]
    private var sparse: [Int]
    private var count = 0

    init(capacity: Int) {
        dense = Array(repeating: 0, count: capacity)
        sparse = Array(repeating: 0, count: capacity)
    }

    /// Inserts `counter`; false when it was there already.
    mutating func insert(_ counter: Int) -> Bool {
        let slot = sparse[counter]
        if slot < count, dense[slot] == counter { return false }
        sparse[counter] = count
        dense[count] = counter
        count += 1
        return true
    }

    mutating func removeAll() { count = 0 }

    var members: ArraySlice<Int> { dense[..<count] }
}
