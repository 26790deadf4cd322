import Foundation
import OpsAPI
import Testing
import TestSupport

/// Issue 17 item 2: `opsctl logs NAME` outside journald, from the rings opsd keeps.
@Suite("opsctl logs, with a real opsd outside journald")
struct LogsCommandTests {
    @Test("opsctl logs NAME -n 5 prints a worker's last 5 lines and a job's; an unknown name lists the workers and jobs; -f and --since need the journal")
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

        let follow = try await run("opsctl", ["logs", "app", "-f", "--config", config])
        #expect(follow.status == 1)
        #expect(follow.stderr.contains("-f needs the journal"))
        daemon.signal(SIGTERM)
        #expect(await daemon.exitStatus() == 0)
    }
}
