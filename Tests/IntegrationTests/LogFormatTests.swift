import Foundation
import Testing
import TestSupport

/// Issue 17 item 5: opsctl and its companion write log lines in one format (OpsLogging's
/// StderrLogHandler: JSON lines where stderr is not a terminal, the human line on one), and
/// neither loads libsystemd, which the journald handler (OpsJournal, opsd's alone) needs.
@Suite("one log format for opsctl and opsctl-backup")
struct LogFormatTests {
    /// A command job that fails (opsctl runs it in process while opsd is down, and logs the
    /// failure) and a backup of a database that does not exist (opsctl-backup logs the failure).
    static func failingConfig(_ scratch: Scratch) throws -> String {
        try scratch.config(extra: """
            jobs:
              - {name: failing, every: 1h, command: [/bin/false]}
            backup:
              repository: \(scratch.path)/backup.git
              databases: [\(scratch.path)/missing.db]
            """)
    }

    /// The error-level log lines of both programs' stderr, with `environment` added.
    static func errorLines(_ environment: [String: String] = [:]) async throws -> (opsctl: [String], companion: [String]) {
        let scratch = try Scratch()
        let config = try failingConfig(scratch)
        let job = try await run("opsctl", ["jobs", "run", "failing", "--config", config], environment: environment)
        #expect(job.status != 0, "\(job.stdout)")
        let backup = try await run("opsctl", ["backup", "--config", config], environment: environment)
        #expect(backup.status == 1, "\(backup.stderr)")
        func errors(_ text: String) -> [String] {
            text.split(separator: "\n").map(String.init).filter { $0.contains(#""level":"error""#) || $0.contains(" error ") }
        }
        return (errors(job.stderr), errors(backup.stderr))
    }

    @Test("where stderr is not a terminal, both write the same JSON object per line: time, level, message, fields")
    func jsonLines() async throws {
        let (opsctl, companion) = try await Self.errorLines()
        try #require(!opsctl.isEmpty && !companion.isEmpty, "no error line: opsctl \(opsctl), opsctl-backup \(companion)")
        for line in opsctl + companion {
            let object = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any], "not a JSON object: \(line)")
            #expect(Set(object.keys) == ["time", "level", "message", "fields"], "\(line)")
            #expect(object["level"] as? String == "error", "\(line)")
            #expect((object["time"] as? String)?.contains(#/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/#) == true, "\(line)")
        }
        #expect(companion.contains { $0.contains(#""message":"backup failed""#) }, "\(companion)")
    }

    @Test("OPS_LOG_FORMAT=human gives both the same human line: time, level, message, key=value")
    func humanLines() async throws {
        let (opsctl, companion) = try await Self.errorLines(["OPS_LOG_FORMAT": "human"])
        try #require(!opsctl.isEmpty && !companion.isEmpty, "no error line: opsctl \(opsctl), opsctl-backup \(companion)")
        for line in opsctl + companion {
            #expect(line.contains(#/^\d\d:\d\d:\d\d\.\d{3} error   \S/#), "\(line)")
        }
        #expect(companion.contains { $0.contains(#/ error   backup failed error=/#) }, "\(companion)")
    }

    @Test("neither opsctl nor opsctl-backup loads libsystemd; opsd's journald handler is a module of its own")
    func noSystemd() async throws {
        for program in ["opsctl", "opsctl-backup"] {
            let needed = try await FootprintTests.neededLibraries("\(binDirectory)/\(program)")
            #expect(!needed.contains { $0.hasPrefix("libsystemd") }, "\(program) needs \(needed)")
        }
    }
}
