import Foundation
import Testing
@testable import OpsConfig

@Suite("Body patterns: the common regular-expression syntax, matched in linear time")
struct TextPatternTests {
    private func matches(_ pattern: String, _ text: String) throws -> Bool? {
        try TextPattern(pattern).matches(text)
    }

    @Test("matches as the usual syntax does", arguments: [
        ("up|ok", "status: ok", true), ("up|ok", "down", false),
        ("^ok$", "ok", true), ("^ok$", "ok\n", true), ("^ok$", "ok\n\n", false), ("^ok\\z", "ok\n", false), ("\\Aok", "ok", true),
        ("^ok", "not ok", false), ("colou?r", "color", true), ("a{2,3}b", "aab", true), ("^a{2,3}b", "ab", false),
        ("^a{2}$", "aa", true), ("^a{2}$", "aaa", false), ("^a{2,}$", "aaaaa", true), ("x*", "", true),
        ("\"status\": *\"up\"", #"{"status":  "up"}"#, true), ("[0-9]+ items", "42 items", true), ("[^0-9 ]+", "123 ", false),
        ("\\d{3}", "ab12", false), ("\\d{3}", "a123", true), ("\\bok\\b", "is ok.", true), ("\\bok\\b", "okay", false),
        ("\\Bk", "ok", true), ("a.c", "abc", true), ("a.c", "a\nc", false), ("\\.", "a", false), ("\\.", "a.", true),
        ("[[:upper:]][[:digit:]]", "xA1", true), ("[]x]", "]", true), ("[a-]", "-", true), ("(?:ab)+$", "xabab", true),
        ("(?<state>up|down)", "down", true), ("\\x41\\x{263A}", "A☺", true), ("é+", "café", true), ("[é-ë]", "ê", true),
        ("\\s\\S\\w\\W", " a_!", true), ("a+?b", "aab", true), ("{", "{", true), ("a{,2}", "a{,2}", true), ("(a|)+b", "b", true),
        ("((a+)+)+$", String(repeating: "a", count: 40) + "!", false),
    ] as [(String, String, Bool)])
    func semantics(pattern: String, text: String, expected: Bool) throws {
        #expect(try matches(pattern, text) == expected, "/\(pattern)/ on \(text.debugDescription)")
    }

    @Test("what needs backtracking, or is malformed, is refused with a sentence", arguments: [
        ("(a)\\1", "uses a back-reference (\\1), which cannot be matched in linear time; repeat the text instead"),
        ("a(?=b)", "uses lookaround ((?=, (?!, (?<=, (?<!), which needs backtracking; match the text itself instead"),
        ("(?<!a)b", "uses lookaround ((?=, (?!, (?<=, (?<!), which needs backtracking; match the text itself instead"),
        ("a++", "uses a possessive quantifier (*+, ++, ?+), which needs backtracking; write it without the second +"),
        ("(?i)ok", "uses a (?…) group other than (?:…) or a named group; inline options such as (?i) are not supported, write [Oo][Kk] for either case"),
        ("(ab", "has a \"(\" without its \")\"; write \\( for a literal parenthesis"),
        ("ab)", "has a \")\" without its \"(\"; write \\) for a literal parenthesis"),
        ("[ab", "has a \"[\" without its \"]\"; write \\[ for a literal bracket"),
        ("*a", "has \"*\" with nothing before it to repeat; write \\* for a literal *"),
        ("a**", "has two quantifiers in a row; put the repeated part in parentheses, e.g. (a+)*"),
        ("a{3,1}", "has the count {3,1}, whose maximum is below its minimum"),
        ("[z-a]", "has the range z-a, which runs backwards"),
        ("\\p{L}", "uses \\p, which body patterns do not support; see docs/checks.md for the syntax"),
        ("a{1001}", "repeats something more than 1000 times; a body pattern never needs that many"),
        ("(a{100}){100}", "expands to 10001 steps (repetitions counted out), more than the 2000 a body pattern may have; simplify it"),
        ("((a{1000}){1000}){1000}", "expands to over 2000000 steps (repetitions counted out), more than the 2000 a body pattern may have; simplify it"),
        ("a\\", "ends with a lone backslash; write \\\\ for a literal one"),
        ("^*", "repeats an anchor (^, $, \\b), which matches no characters; remove the quantifier"),
    ])
    func refused(pattern: String, message: String) {
        #expect(throws: TextPattern.SyntaxError(message)) { try TextPattern(pattern) }
    }

    @Test("patterns that make backtracking engines take exponential time are answered, on a 64 KiB body", .timeLimit(.minutes(5)))
    func pathological() async throws {
        // Seconds of work in a debug build: on a thread of its own, not on the cooperative pool
        // (two threads here) that every other test running beside this one needs.
        let answers = await withCheckedContinuation { (continuation: CheckedContinuation<Result<[Bool?], any Error>, Never>) in
            Thread {
                let body = String(repeating: "a", count: 1 << 16) + "!"
                continuation.resume(returning: Result {
                    try ["(a+)+$", "(a|a)*b", "(a*)*b", "((a|aa)+)+b", "(.*a){20}b", "(x+x+)+y", "a(a|b){20}c", "(a?){30}a{30}b", "(a+)+!$"]
                        .map { try TextPattern($0).matches(body) }
                })
            }.start()
        }
        #expect(try answers.get() == [false, false, false, false, false, false, false, false, true])
    }

    @Test("a caller can stop a match part way; it is asked as the text goes")
    func stopping() throws {
        let body = String(repeating: "a", count: 100_000)
        var asked = 0
        let result = try TextPattern("(a+)+b").matches(body) {
            asked += 1
            return asked == 3
        }
        #expect(result == nil)
        #expect(asked == 3)
    }

    @Test("body_matches in the config uses this syntax: errors name key, pattern and line")
    func config() {
        #expect(problems("checks: [{name: h, http: \"http://127.0.0.1/\", expect: {body_matches: \"(a)\\\\1\"}}]") == [
            #"checks[0].expect.body_matches: "(a)\1" uses a back-reference (\1), which cannot be matched in linear time; repeat the text instead (line 1)"#,
        ])
        #expect(problems("checks: [{name: h, http: \"http://127.0.0.1/\", expect: {body_matches: \"(a+)+$\"}}]") == [])
        #expect(problems("checks: [{name: h, http: \"http://127.0.0.1/\", expect: {body_matches: \"^x{1000}$\"}}]") == [])
    }
}
