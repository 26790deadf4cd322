import Foundation
import Synchronization
import Testing
@testable import OpsLogging

@Suite("Progress lines")
struct ProgressTests {
    @Test("a phase with a known total shows bytes done of the total, the share, the rate and the time left")
    func knownTotal() {
        var line = ProgressLine()
        line.begin("store app", total: 100 << 20, at: .seconds(10))
        line.done = 40 << 20
        #expect(line.text(at: .seconds(12)) == "store app  40.0 MiB / 100.0 MiB  40%  20.0 MiB/s  3s left")
    }

    @Test("without a total: the bytes so far, the objects and the time left they imply; no rate before half a second")
    func unknownTotal() {
        var line = ProgressLine()
        line.begin("push", total: nil, at: .zero)
        #expect(line.text(at: .zero) == "push")
        line.done = 10 << 20
        line.items = (3, 12)
        #expect(line.text(at: .milliseconds(400)) == "push  10.0 MiB  3/12 objects")
        #expect(line.text(at: .seconds(2)) == "push  10.0 MiB  3/12 objects  5.0 MiB/s  6s left")
    }

    @Test("time left reads as seconds, minutes or hours")
    func durations() {
        #expect(ProgressLine.duration(0.2) == "1s")
        #expect(ProgressLine.duration(65) == "1m05s")
        #expect(ProgressLine.duration(7380) == "2h03m")
    }

    @Test("a phase's first line is drawn at once, later ones at most once per interval, and finish clears the line")
    func throttled() throws {
        var fds: [Int32] = [0, 0]
        #expect(pipe(&fds) == 0)
        let now = Mutex<Duration>(.zero)
        let reporter = ProgressReporter(fileDescriptor: fds[1], interval: .milliseconds(100), clock: { now.withLock { $0 } })
        reporter.begin("snapshot app", total: 1000)
        for step in 1...9 {
            now.withLock { $0 = .milliseconds(10 * step) }
            reporter.update(done: step * 10)
        }
        now.withLock { $0 = .milliseconds(100) }
        reporter.update(done: 100)
        reporter.begin("store app", total: 1000)
        reporter.add(500)
        reporter.finish()
        close(fds[1])
        let data = FileHandle(fileDescriptor: fds[0], closeOnDealloc: true).readDataToEndOfFile()
        let lines = String(decoding: data, as: UTF8.self).components(separatedBy: ProgressLine.clear).dropFirst()
        #expect(Array(lines) == ["snapshot app  0 B / 1000 B  0%", "snapshot app  100 B / 1000 B  10%", "store app  0 B / 1000 B  0%", ""])
    }

    @Test("a line longer than the terminal is wide is cut, so it never wraps onto a row it cannot redraw")
    func fitsTheTerminal() {
        var fds: [Int32] = [0, 0]
        #expect(pipe(&fds) == 0)
        let reporter = ProgressReporter(fileDescriptor: fds[1], columns: 20, clock: { .zero })
        reporter.begin("store a-database-with-a-long-name", total: 1000)
        reporter.begin("push", total: nil)
        close(fds[1])
        let data = FileHandle(fileDescriptor: fds[0], closeOnDealloc: true).readDataToEndOfFile()
        let lines = String(decoding: data, as: UTF8.self).components(separatedBy: ProgressLine.clear).dropFirst()
        #expect(Array(lines) == ["store a-database-wi", "push"])
    }

    @Test("a reporter on stderr only when enabled and stderr is a terminal")
    func onlyForPeople() {
        #expect(ProgressReporter.standardError(enabled: true, isTerminal: true) != nil)
        #expect(ProgressReporter.standardError(enabled: true, isTerminal: false) == nil)
        #expect(ProgressReporter.standardError(enabled: false, isTerminal: true) == nil)
    }

    @Test("opsctl's and the companion's log format: OPS_LOG_FORMAT, else human on a terminal and JSON lines elsewhere")
    func stderrFormat() {
        #expect(StderrLogHandler.Format.detect(environment: [:], stderrIsTerminal: true) == .human)
        #expect(StderrLogHandler.Format.detect(environment: [:], stderrIsTerminal: false) == .json)
        #expect(StderrLogHandler.Format.detect(environment: ["OPS_LOG_FORMAT": "json"], stderrIsTerminal: true) == .json)
        #expect(StderrLogHandler.Format.detect(environment: ["OPS_LOG_FORMAT": "human"], stderrIsTerminal: false) == .human)
    }

    @Test("on a unit's journal stream (opsd-backup.service): the priority prefix journald reads, and no time of its own")
    func journalStream() {
        var info = stat()
        #expect(fstat(STDERR_FILENO, &info) == 0)
        let stream = "\(info.st_dev):\(info.st_ino)"
        #expect(StderrLogHandler.Format.detect(environment: ["JOURNAL_STREAM": stream], stderrIsTerminal: true) == .journalStream)
        #expect(StderrLogHandler.Format.detect(environment: ["JOURNAL_STREAM": "\(info.st_dev):\(info.st_ino + 1)"], stderrIsTerminal: false) == .json)
        #expect(StderrLogHandler.Format.detect(environment: ["JOURNAL_STREAM": stream, "OPS_LOG_FORMAT": "json"]) == .json)
        let line = StderrLogHandler.journalStreamLine(level: .warning, message: "backup: configured file does not exist; skipped", fields: [("path", "/etc/a b")])
        #expect(line == #"<4>backup: configured file does not exist; skipped path="/etc/a b""#)
    }
}
