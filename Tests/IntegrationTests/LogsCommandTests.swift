import Foundation
import OpsAPI
import Testing
import TestSupport

/// Issue 17 item 2: `opsctl logs NAME` outside journald, from the rings opsd keeps.
@Suite("opsctl logs, with a real opsd outside journald")
struct LogsCommandTests {
    @Test("opsctl logs NAME -n 5 prints a worker's last 5 lines and a job's; an unknown name lists the workers and jobs; --since needs the journal")
    func lastLines() async throws {
        let scratch = try Scratch()
        let config = try scratch.config(extra: """
            workers:
              - {name: app, command: [/bin/sh, -c, "i=1; while [ $i -le 12 ]; do echo app line $i; i=$((i+1)); done; exec sleep 1000"]}
            jobs:
              - {name: tidy, every: 1h, command: [/bin/sh, -c, "echo tidied; echo done"]}
            """)
        let daemon = try await Daemon(config: config, scratch: scratch)
        _ = try await daemon.logStream.first { $0.fields["worker"] == "app" && $0.message == "app line 12" }

        let logs = try await run("opsctl", ["logs", "app", "-n", "5", "--config", config])
        #expect(logs.status == 0, "\(logs.stderr)")
        #expect(logs.stdout == (8...12).map { "app line \($0)\n" }.joined())

        #expect(try await run("opsctl", ["jobs", "run", "tidy", "--config", config]).status == 0)
        let job = try await run("opsctl", ["logs", "tidy", "--config", config])
        #expect(job.stdout == "tidied\ndone\n")

        let unknown = try await run("opsctl", ["logs", "nope", "--config", config])
        #expect(unknown.status == 1)
        #expect(unknown.stderr == "opsctl: no worker or job named nope (workers: app; jobs: tidy)\n")

        let since = try await run("opsctl", ["logs", "app", "--since", "1h", "--config", config])
        #expect(since.status == 1)
        #expect(since.stderr.contains("--since needs the journal"))
        daemon.signal(SIGTERM)
        #expect(await daemon.exitStatus() == 0)
    }

    @Test("opsctl logs -f prints the newest lines, then each new line as the worker writes it, and ends when opsd stops")
    func follow() async throws {
        let scratch = try Scratch()
        let fifo = "\(scratch.path)/go"
        #expect(mkfifo(fifo, 0o600) == 0)
        let config = try scratch.config(extra: """
            workers:
              - {name: app, command: [/bin/sh, -c, "echo first; echo second; read x < \(fifo); printf 'third, in '; echo 'two writes'; exec sleep 1000"]}
            """)
        let daemon = try await Daemon(config: config, scratch: scratch)
        _ = try await daemon.logStream.first { $0.fields["worker"] == "app" && $0.message == "second" }

        let follower = Process()
        follower.executableURL = URL(fileURLWithPath: "\(binDirectory)/opsctl")
        follower.arguments = ["logs", "app", "-f", "-n", "1", "--config", config]
        let output = Pipe(), errors = Pipe()
        follower.standardOutput = output
        follower.standardError = errors
        try follower.run()
        defer { if follower.isRunning { kill(follower.processIdentifier, SIGKILL) } }
        try? output.fileHandleForWriting.close()
        let followed = LineReader(output.fileHandleForReading)
        _ = try await followed.first { $0 == "second" }

        // A line written only now, while -f waits, in two pieces: printed once, whole.
        let go = try #require(FileHandle(forWritingAtPath: fifo))
        go.write(Data("go\n".utf8))
        try go.close()
        _ = try await followed.first { $0.hasPrefix("third") }
        #expect(followed.lines == ["second", "third, in two writes"])

        daemon.signal(SIGTERM)
        #expect(await daemon.exitStatus() == 0)
        follower.waitUntilExit()
        #expect(follower.terminationStatus == 0)
        let said = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        #expect(said.contains("no more output to follow"), "\(said)")
    }
}
