import FoundationEssentials
import Glibc
import Scheduling

/// `environment_file:` of a worker or command job: variables kept in a file of their own (a
/// `.env` with secrets, mode 0600), in the syntax of systemd's `EnvironmentFile=`.
///
/// The file is read whenever the configuration is (at start and at each reload), so a changed
/// file restarts the workers it feeds on the next reload. Its values are never part of a message:
/// problems name the file, the line and the variable, never what it is set to.
public struct EnvironmentFile: Sendable, Equatable {
    /// The file, absolute.
    public var path: String
    /// Written with a leading `-`: a missing file is skipped, as systemd does.
    public var optional: Bool

    /// A file of `KEY=VALUE` lines.
    public init(path: String, optional: Bool = false) {
        self.path = path
        self.optional = optional
    }

    /// What a file says: its assignments in order (a later one wins), and the lines it could not
    /// use, each with its one-sentence reason.
    public struct Contents: Sendable, Equatable {
        /// `(name, value)` in the order written.
        public var assignments: [(name: String, value: String)] = []
        /// `(line, reason)`; the reason never contains a value.
        public var problems: [(line: Int, reason: String)] = []

        public static func == (lhs: Contents, rhs: Contents) -> Bool {
            lhs.assignments.elementsEqual(rhs.assignments) { $0 == $1 }
                && lhs.problems.elementsEqual(rhs.problems) { $0 == $1 }
        }
    }

    private enum State {
        case preKey, key, preValue, value, valueEscape, singleQuote, doubleQuote, doubleQuoteEscape, comment
    }

    /// Parses `text` as systemd does (`parse_env_file`): blank lines and lines starting with `#`
    /// or `;` are skipped; `KEY=VALUE` with whitespace around both trimmed; a value may be in
    /// single quotes (taken literally) or double quotes (where `\"`, `\\`, `\$` and `` \` `` are
    /// escapes); outside single quotes a backslash at the end of a line continues the value on
    /// the next.
    public static func parse(_ text: String) -> Contents {
        var contents = Contents()
        var state = State.preKey
        var key = "", value = "", line = 1, start = 1
        // Trailing whitespace of an unquoted value is dropped; quoted text keeps its own.
        var keptLength = 0

        func finish() {
            let name = String(key.trimmingWhitespace())
            value = String(value.prefix(keptLength))
            if isVariableName(name) {
                contents.assignments.append((name, value))
            } else {
                contents.problems.append((start, "\(NodeReader.quote(name)) is not a variable name (letters, digits and _, not starting with a digit)"))
            }
            (key, value, keptLength) = ("", "", 0)
        }

        for character in text {
            let newline = character == "\n" || character == "\r\n"
            switch state {
            case .preKey:
                if newline || character.isWhitespace { break }
                if character == "#" || character == ";" { state = .comment; break }
                start = line
                key = String(character)
                state = .key
            case .key:
                if newline {
                    contents.problems.append((start, "has no \"=\"; write NAME=VALUE"))
                    key = ""
                    state = .preKey
                } else if character == "=" {
                    state = .preValue
                } else {
                    key.append(character)
                }
            case .preValue:
                if newline { finish(); state = .preKey }
                else if character.isWhitespace { break }
                else if character == "'" { state = .singleQuote }
                else if character == "\"" { state = .doubleQuote }
                else if character == "\\" { state = .valueEscape }
                else { value.append(character); keptLength = value.count; state = .value }
            case .value:
                if newline { finish(); state = .preKey }
                else if character == "\\" { state = .valueEscape }
                else {
                    value.append(character)
                    if !character.isWhitespace { keptLength = value.count }
                }
            case .valueEscape:
                // A backslash before the end of the line continues the value on the next.
                if !newline { value.append(character); keptLength = value.count }
                state = .value
            case .singleQuote:
                if character == "'" { state = .preValue } else { value.append(character); keptLength = value.count }
            case .doubleQuote:
                if character == "\"" { state = .preValue }
                else if character == "\\" { state = .doubleQuoteEscape }
                else { value.append(character); keptLength = value.count }
            case .doubleQuoteEscape:
                if newline { state = .doubleQuote; break }
                if !"\"\\`$".contains(character) { value.append("\\") }
                value.append(character)
                keptLength = value.count
                state = .doubleQuote
            case .comment:
                if newline { state = .preKey }
            }
            if newline { line += 1 }
        }
        switch state {
        case .preKey, .comment: break
        case .key: contents.problems.append((start, "has no \"=\"; write NAME=VALUE"))
        case .preValue, .value, .valueEscape: finish()
        case .singleQuote, .doubleQuote, .doubleQuoteEscape:
            contents.problems.append((start, "has a quote that is never closed; close it"))
        }
        return contents
    }

    /// Letters, digits and `_`, not starting with a digit: a name `environment:` and these files accept.
    static func isVariableName(_ name: String) -> Bool {
        guard let first = name.first, first == "_" || (first.isASCII && first.isLetter) else { return false }
        return name.allSatisfy { $0 == "_" || ($0.isASCII && ($0.isLetter || $0.isNumber)) }
    }
}
