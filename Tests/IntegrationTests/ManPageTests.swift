import Foundation
import Testing
import TestSupport

/// The man pages scripts/man-pages.py generates when make install or make deb runs: they render
/// without a warning, and they describe what the programs and the reference really have (issue 17
/// item 3).
@Suite("man pages: opsd(8), opsctl(8), ops.yaml(5)")
struct ManPageTests {
    static func generate() async throws -> String {
        let scratch = try Scratch()
        let generated = try await run("\(repositoryRoot)/scripts/man-pages.py", [binDirectory, scratch.path])
        guard generated.status == 0 else { throw TestFailure("man-pages.py failed: \(generated.stderr)") }
        return scratch.path
    }

    /// The page as `man` shows it at 80 columns, and what `man --warnings` said on stderr.
    static func render(_ page: String) async throws -> (text: String, warnings: String) {
        let result = try await run("/usr/bin/man", ["--warnings", "-l", page], environment: ["MANWIDTH": "80", "MAN_KEEP_FORMATTING": "", "PAGER": "cat"])
        #expect(result.status == 0, "\(result.stderr)")
        return (result.stdout, result.stderr)
    }

    @Test("each page renders with man --warnings and nothing on stderr")
    func rendersCleanly() async throws {
        let directory = try await Self.generate()
        for page in ["man8/opsd.8", "man8/opsctl.8", "man5/ops.yaml.5"] {
            let rendered = try await Self.render("\(directory)/\(page)")
            #expect(rendered.warnings.isEmpty, "\(page): \(rendered.warnings)")
            #expect(rendered.text.contains("NAME") && rendered.text.contains("SEE ALSO"), "\(page)")
        }
    }

    @Test("opsctl(8) has every command, backup's and restore's from the companion, and every exit status; opsd(8) its options, signals and exit codes")
    func commandsAndExitCodes() async throws {
        let directory = try await Self.generate()
        // Words as a reader sees them, whatever man's line breaks.
        func words(_ text: String) -> String { text.split(whereSeparator: \.isWhitespace).joined(separator: " ") }
        let opsctl = words(try await Self.render("\(directory)/man8/opsctl.8").text)
        for command in ["status", "health", "workers start", "workers signal", "jobs run", "events", "schedule preview", "logs", "backup list", "restore", "reload", "config check", "doctor"] {
            #expect(opsctl.contains("opsctl \(command)"), "opsctl(8) lacks \(command)")
        }
        // restore's options come from opsctl-backup, which carries the command out.
        for option in ["--from-remote", "--to <", "--at <"] { #expect(opsctl.contains(option), "opsctl(8) lacks \(option)") }
        #expect(opsctl.contains("EXIT STATUS") && opsctl.contains("exits 3 when opsd is not running"))
        let opsd = words(try await Self.render("\(directory)/man8/opsd.8").text)
        for text in ["--config PATH", "--log-format FORMAT", "SIGHUP", "78 when the configuration is", "64 for a wrong command line"] {
            #expect(opsd.contains(text), "opsd(8) lacks \(text)")
        }
    }

    @Test("ops.yaml(5) has a section for every top-level key of examples/ops.yaml, with its lines")
    func everySection() async throws {
        let directory = try await Self.generate()
        let page = try await Self.render("\(directory)/man5/ops.yaml.5").text
        let reference = try String(contentsOfFile: "\(repositoryRoot)/examples/ops.yaml", encoding: .utf8)
        let sections = reference.split(separator: "\n").filter { $0.first?.isLetter == true && $0.hasSuffix(":") }.map { $0.dropLast() }
        #expect(sections.count >= 5, "\(sections)")
        for section in sections { #expect(page.contains("   \(section)\n"), "ops.yaml(5) lacks the section \(section)") }
        // The reference's lines, as written (the YAML is shown verbatim, not reflowed).
        for line in reference.split(separator: "\n") where line.hasPrefix("  ") && line.count < 70 && !line.contains("\\") {
            #expect(page.contains(line), "ops.yaml(5) lacks the line \(line)")
        }
    }
}
