import Foundation
import OpsAPI
import Testing
import TestSupport

/// Issue 17 item 2: `opsctl jobs run` through opsd shows the run's output as it comes, then its
/// result, and exits with it.
@Suite("opsctl jobs run through opsd streams the run's output")
struct JobRunStreamTests {
    @Test("a line appears while the run still waits, a second run is refused meanwhile, then the rest and the result, exit 1")
    func outputArrivesWhileTheRunGoes() async throws {
        let scratch = try Scratch()
        let gate = scratch.path + "/gate"
        // The job waits for the test to open its gate, which the test does only once it has seen
        // the first line on opsctl's stdout: without streaming, the line would come after the
        // run, and the job gives up waiting after a minute and says so.
        let config = try scratch.config(extra: """
            jobs:
              - name: gated
                every: 1h
                command: [/bin/sh, -c, "echo first; i=0; while [ ! -e \(gate) ] && [ $i -lt 600 ]; do sleep 0.1; i=$((i+1)); done; [ -e \(gate) ] || { echo the gate never opened; exit 0; }; echo second >&2; printf 'no newline'; exit 3"]
            """)
        let daemon = try await Daemon(config: config, scratch: scratch)
        let opsctl = try StreamingProcess("\(binDirectory)/opsctl", ["jobs", "run", "gated", "--config", config])
        var lines = opsctl.lines.makeAsyncIterator()
        #expect(await lines.next() == "first")

        let second = try await run("opsctl", ["jobs", "run", "gated", "--config", config])
        #expect(second.status == 1)
        #expect(second.stderr.contains("gated is running already"))

        #expect(FileManager.default.createFile(atPath: gate, contents: Data()))
        var rest: [String] = []
        while let line = await lines.next() { rest.append(line) }
        #expect(rest.count == 3, "\(rest)")
        #expect(Array(rest.prefix(2)) == ["second", "no newline"])
        #expect(rest.last?.hasPrefix("gated: failed in ") == true, "\(rest)")
        #expect(rest.last?.contains("exit") == true, "\(rest)")
        #expect(await opsctl.exitStatus() == 1)
        daemon.signal(SIGTERM)
        #expect(await daemon.exitStatus() == 0)
    }

    @Test("with --json stdout holds the record alone and the output goes to stderr; success exits 0")
    func jsonKeepsStdoutForTheRecord() async throws {
        let scratch = try Scratch()
        let config = try scratch.config(extra: """
            jobs:
              - name: report
                every: 1h
                command: [/bin/sh, -c, "echo counted 42 orders; echo done"]
            """)
        let daemon = try await Daemon(config: config, scratch: scratch)
        let ran = try await run("opsctl", ["jobs", "run", "report", "--json", "--config", config])
        #expect(ran.status == 0)
        let record = try WireJSON.decoder.decode(JobRunStatus.self, from: Data(ran.stdout.utf8))
        #expect(record.result == .ok)
        #expect(record.output == "counted 42 orders\ndone")
        #expect(ran.stderr.contains("counted 42 orders\ndone\n"))
        let plain = try await run("opsctl", ["jobs", "run", "report", "--config", config])
        #expect(plain.status == 0)
        #expect(plain.stdout.hasPrefix("counted 42 orders\ndone\nreport: ok in "), "\(plain.stdout)")
        daemon.signal(SIGTERM)
        #expect(await daemon.exitStatus() == 0)
    }
}

/// A program whose stdout is read line by line as it writes (stderr is discarded).
private final class StreamingProcess: Sendable {
    let lines: AsyncStream<String>
    private let pid: Int32

    init(_ path: String, _ arguments: [String]) throws {
        var ends: [Int32] = [0, 0]
        guard pipe(&ends) == 0 else { throw TestFailure("pipe: \(String(cString: strerror(errno)))") }
        _ = fcntl(ends[0], F_SETFD, FD_CLOEXEC)
        let null = open("/dev/null", O_RDWR | O_CLOEXEC)
        var environment = ProcessInfo.processInfo.environment
        environment.removeValue(forKey: "OPS_CONFIG")
        pid = try spawn(path, arguments, environment: environment, stdout: ends[1], stderr: null, stdin: null)
        close(ends[1])
        close(null)
        let reading = ends[0]
        let (stream, continuation) = AsyncStream.makeStream(of: String.self)
        lines = stream
        Thread {
            var pending: [UInt8] = []
            var buffer = [UInt8](repeating: 0, count: 4096)
            while true {
                let count = read(reading, &buffer, buffer.count)
                if count < 0 && errno == EINTR { continue }
                if count <= 0 { break }
                pending += buffer[..<count]
                while let newline = pending.firstIndex(of: 10) {
                    continuation.yield(String(decoding: pending[..<newline], as: UTF8.self))
                    pending.removeSubrange(...newline)
                }
            }
            if !pending.isEmpty { continuation.yield(String(decoding: pending, as: UTF8.self)) }
            close(reading)
            continuation.finish()
        }.start()
    }

    /// Waits for the program to exit; its exit status.
    func exitStatus() async -> Int32 {
        let pid = self.pid
        return await onNewThread {
            var raw: Int32 = 0
            while waitpid(pid, &raw, 0) < 0 && errno == EINTR {}
            return (raw & 0x7f) == 0 ? (raw >> 8) & 0xff : 128 + (raw & 0x7f)
        }
    }
}
