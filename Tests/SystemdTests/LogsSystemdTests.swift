import Foundation
import OpsAPI
import Testing
import TestSupport

// Issue 17 item 2 under real journald: `opsctl logs` reads a worker's and a job's journal lines,
// and a job's output, relayed through opsd to its journal stream, is both in the journal and in
// the run's tail. In SystemdServiceTests (an extension) so it runs serialized with the other
// sandbox tests.
extension SystemdServiceTests {
    @Test("opsctl logs app shows the worker's journal lines; a failing job's output reaches the journal and its run's tail, secret masked")
    func journalLogsAndJobTail() async throws {
        try await Sandbox.install(config: Self.goodConfig + """

            jobs:
              - name: noisy
                every: 1h
                environment: {API_TOKEN: hunter2-secret-value}
                command: [/bin/sh, -c, "i=1; while [ $i -le 30 ]; do echo noisy line $i; i=$((i+1)); done; echo token=$API_TOKEN; exit 1"]
            """)
        let cursor = try await Sandbox.cursor()
        #expect(try await Sandbox.exec("systemctl", "start", "opsd.service").status == 0)
        try await Sandbox.waitForJournal("app says hello", after: cursor)
        let logs = try await Sandbox.exec("opsctl", "logs", "app", "-n", "5", "--config", "/etc/ops/ops.yaml")
        #expect(logs.status == 0, "\(logs.stderr)")
        #expect(logs.stdout.contains("app[") && logs.stdout.contains("app says hello"), "\(logs.stdout)")

        let ran = try await Sandbox.exec("opsctl", "jobs", "run", "noisy", "--config", "/etc/ops/ops.yaml")
        #expect(ran.status == 1, "\(ran.stdout)\(ran.stderr)")
        let shown = try await Sandbox.exec("opsctl", "jobs", "show", "noisy", "--json", "--config", "/etc/ops/ops.yaml")
        let runs = try WireJSON.decoder.decode([JobRunStatus].self, from: Data(shown.stdout.utf8))
        let tail = try #require(runs.first?.output).split(separator: "\n").map(String.init)
        #expect(tail == (12...30).map { "noisy line \($0)" } + ["token=<masked>"])

        // The journal got every line, unchanged, under the job's name.
        try await Sandbox.waitForJournal("noisy line 30", after: cursor)
        let entries = try await Sandbox.journal(after: cursor, match: "SYSLOG_IDENTIFIER=noisy").compactMap { $0["MESSAGE"] }
        #expect(entries.filter { $0.hasPrefix("noisy line ") }.count == 30)
        let journal = try await Sandbox.exec("opsctl", "logs", "noisy", "-n", "3", "--config", "/etc/ops/ops.yaml")
        #expect(journal.stdout.contains("noisy line 30"), "\(journal.stdout)")
        #expect(try await Sandbox.exec("systemctl", "stop", "opsd.service").status == 0)
        // With opsd stopped the journal is read all the same.
        let stopped = try await Sandbox.exec("opsctl", "logs", "noisy", "-n", "3", "--config", "/etc/ops/ops.yaml")
        #expect(stopped.status == 0)
        #expect(stopped.stdout.contains("noisy line 30"), "\(stopped.stdout)")
        #expect(stopped.stderr == "opsctl: opsd is not running; reading the journal\n")
    }
}
