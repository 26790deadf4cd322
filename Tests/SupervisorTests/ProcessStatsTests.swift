import Glibc
import Testing
@testable import Supervisor

@Suite("Reading /proc without Strings")
struct ProcessStatsTests {
    /// Writes `text` to a fresh file and returns its path.
    func fixture(_ text: String) throws -> String {
        var template = Array("/tmp/proc-stat-XXXXXX".utf8CString)
        let descriptor = mkstemp(&template)
        try #require(descriptor >= 0)
        defer { close(descriptor) }
        let written = text.utf8CString.withUnsafeBufferPointer { write(descriptor, $0.baseAddress, $0.count - 1) }
        try #require(written == text.utf8.count)
        return String(decoding: template.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    @Test("a command name with spaces and parentheses does not shift the fields after it")
    func hostileName() throws {
        let path = try fixture("4242 (a) b (c) S 17 4242 4242 0 -1 4194560 100 0 0 0 123 45 0 0 20 0 1 0 99 1000 50\n")
        defer { unlink(path) }
        #expect(ProcFile.fields(of: path, afterName: true, wanted: [4]) == [17])
        #expect(ProcFile.fields(of: path, afterName: true, wanted: [14, 15]) == [123, 45])
    }

    @Test("statm's fields count from the first token")
    func statm() throws {
        let path = try fixture("2048 300 100 10 0 500 0\n")
        defer { unlink(path) }
        #expect(ProcFile.fields(of: path, afterName: false, wanted: [2]) == [300])
        #expect(ProcFile.fields(of: path, afterName: false, wanted: [1, 7]) == [2048, 0])
    }

    @Test("a missing field, a word where a number belongs, or no file at all give nil")
    func malformed() throws {
        let short = try fixture("1 (x) S 1\n")
        defer { unlink(short) }
        #expect(ProcFile.fields(of: short, afterName: true, wanted: [14]) == nil)
        #expect(ProcFile.fields(of: short, afterName: true, wanted: [3]) == nil)  // "S"
        #expect(ProcFile.fields(of: "/proc/0/stat", afterName: true, wanted: [4]) == nil)
    }

    @Test("this test process: its parent and a resident size that is not zero")
    func live() throws {
        #expect(ProcessStats.parent(of: getpid()) == getppid())
        let stats = try #require(ProcessStats.read(pid: getpid()))
        #expect(stats.residentBytes > 0)
    }
}
