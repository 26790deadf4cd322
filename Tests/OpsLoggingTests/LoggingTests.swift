import Foundation
import Logging
import Testing
@testable import OpsLogging
@testable import OpsJournal

@Suite("Log records")
struct LogRecordTests {
    let time = WallClock.Time(year: 2026, month: 11, day: 4, hour: 8, minute: 0, second: 1, millisecond: 7)

    @Test("a JSON line is one valid object with time, level, message and fields, whatever the text holds")
    func jsonLine() throws {
        let awkward = "quote \" backslash \\ newline \n tab \t bell \u{07} del \u{7F} ümlaut ✓"
        let line = StderrLogHandler.jsonLine(time: time, level: .warning, message: awkward, fields: [("worker", "app"), ("note", awkward)])
        #expect(!line.contains("\n"))
        let object = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
        #expect(object["time"] as? String == "2026-11-04T08:00:01.007Z")
        #expect(object["level"] as? String == "warning")
        #expect(object["message"] as? String == awkward)
        let fields = try #require(object["fields"] as? [String: String])
        #expect(fields == ["worker": "app", "note": awkward])
    }

    @Test("the human line is short and keeps key=value pairs readable")
    func humanLine() {
        let line = StderrLogHandler.humanLine(time: time, level: .info, message: "control socket ready", fields: [("path", "/run/ops/opsd.sock"), ("note", "two words")])
        #expect(line == #"08:00:01.007 info    control socket ready path=/run/ops/opsd.sock note="two words""#)
    }

    @Test("journal fields: the well-known ones, then metadata as OPS_ fields")
    func journalFields() {
        let fields = JournalLogHandler.fields(
            identifier: "opsd", level: .error, message: "worker crashed", metadata: ["worker": "app", "exit.code": "3"],
            file: "opsd/Supervisor.swift", function: "reap()", line: 42
        )
        #expect(fields == [
            "MESSAGE=worker crashed", "PRIORITY=3", "SYSLOG_IDENTIFIER=opsd",
            "CODE_FILE=opsd/Supervisor.swift", "CODE_LINE=42", "CODE_FUNC=reap()",
            "OPS_EXIT_CODE=3", "OPS_WORKER=app",
        ])
    }

    @Test("metadata keys become names journald accepts", arguments: [
        ("worker", "OPS_WORKER"), ("request.id", "OPS_REQUEST_ID"), ("sl-service", "OPS_SL_SERVICE"),
        ("ümlaut", "OPS__MLAUT"), (String(repeating: "k", count: 80), "OPS_" + String(repeating: "K", count: 60)),
    ])
    func fieldNames(key: String, expected: String) {
        #expect(JournalLogHandler.journalFieldName(key) == expected)
    }

    @Test("syslog priorities follow sd-daemon(3)")
    func priorities() {
        #expect([Logger.Level.trace, .debug, .info, .notice, .warning, .error, .critical].map(\.syslogPriority) == [7, 7, 6, 5, 4, 3, 2])
    }

    @Test("passwords in URLs never reach a log line")
    func redaction() {
        #expect(Redaction.redact("push to https://me:s3cret@example.com/repo.git failed") == "push to https://me:***@example.com/repo.git failed")
        #expect(Redaction.redact("a=redis://:pw@127.0.0.1:6379/0 b=https://u:p@h/x") == "a=redis://:***@127.0.0.1:6379/0 b=https://u:***@h/x")
        #expect(Redaction.redact("git@github.com:me/app.git and https://example.com/a@b") == "git@github.com:me/app.git and https://example.com/a@b")
        let fields = JournalLogHandler.fields(identifier: "opsd", level: .info, message: "https://a:b@c", metadata: ["url": "https://a:b@c"], file: "", function: "", line: 0)
        #expect(!fields.joined().contains(":b@"))
    }
}

@Suite("Choosing the output")
struct LogOutputTests {
    @Test("an explicit OPS_LOG_FORMAT wins")
    func explicit() {
        #expect(LogOutput.detect(environment: ["OPS_LOG_FORMAT": "json", "JOURNAL_STREAM": "1:1"]) == .json)
        #expect(LogOutput.detect(environment: ["OPS_LOG_FORMAT": "journal"]) == .journal)
    }

    @Test("JOURNAL_STREAM is trusted only when it names this process's stderr")
    func journalStream() {
        var info = stat()
        #expect(fstat(STDERR_FILENO, &info) == 0)
        #expect(StderrLogHandler.stderrIsJournalStream("\(info.st_dev):\(info.st_ino)"))
        #expect(!StderrLogHandler.stderrIsJournalStream("\(info.st_dev):\(info.st_ino + 1)"))
        #expect(!StderrLogHandler.stderrIsJournalStream("garbage"))
        #expect(LogOutput.detect(environment: ["JOURNAL_STREAM": "\(info.st_dev):\(info.st_ino + 1)"]) != .journal)
    }

    @Test("a record written through the handler arrives as one whole JSON line")
    func throughPipe() throws {
        var fds: [Int32] = [0, 0]
        #expect(pipe(&fds) == 0)
        var handler = StderrLogHandler(format: .json, fileDescriptor: fds[1])
        handler.metadata = ["component": "test"]
        let logger = Logger(label: "test") { _ in handler }
        logger.info("hello", metadata: ["check": "disk"])
        close(fds[1])
        let data = FileHandle(fileDescriptor: fds[0], closeOnDealloc: true).readDataToEndOfFile()
        let lines = String(decoding: data, as: UTF8.self).split(separator: "\n")
        #expect(lines.count == 1)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(lines[0].utf8)) as? [String: Any])
        #expect(object["fields"] as? [String: String] == ["component": "test", "check": "disk"])
    }
}
