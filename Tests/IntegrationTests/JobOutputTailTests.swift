import Foundation
import OpsAPI
import Testing
import TestSupport

/// Issue 17 item 2: a job run keeps the tail of its output, secrets masked, shown by `jobs show`.
@Suite("A job run's output tail, with a real opsd")
struct JobOutputTailTests {
    @Test("a failing job printing 30 lines keeps its last 20, jobs show prints them, and its environment's secret is masked")
    func failingJobKeepsItsTail() async throws {
        let scratch = try Scratch()
        let envFile = try scratch.write("job.env", "FILE_TOKEN=from-the-env-file-77\n")
        let config = try scratch.config(extra: """
            jobs:
              - name: noisy
                every: 1h
                environment: {API_TOKEN: hunter2-secret-value}
                environment_file: \(envFile)
                command: [/bin/sh, -c, "i=1; while [ $i -le 30 ]; do echo line $i; i=$((i+1)); done; echo token=$API_TOKEN file=$FILE_TOKEN >&2; exit 1"]
            """)
        let daemon = try await Daemon(config: config, scratch: scratch)
        let ran = try await run("opsctl", ["jobs", "run", "noisy", "--config", config])
        #expect(ran.status == 1)

        let runs = try await jobRuns("noisy", config)
        let last = try #require(runs.first)
        #expect(last.result == .failed)
        let output = try #require(last.output).split(separator: "\n").map(String.init)
        #expect(output == (12...30).map { "line \($0)" } + ["token=<masked> file=<masked>"])

        let shown = try await run("opsctl", ["jobs", "show", "noisy", "--config", config])
        #expect(shown.status == 0)
        #expect(shown.stdout.contains("  line 30\n"))
        #expect(shown.stdout.contains("  line 12\n"))
        #expect(!shown.stdout.contains("line 11\n"))
        #expect(shown.stdout.contains("token=<masked> file=<masked>"))
        #expect(!shown.stdout.contains("hunter2") && !shown.stdout.contains("from-the-env-file"))
        daemon.signal(SIGTERM)
        #expect(await daemon.exitStatus() == 0)
    }
}
