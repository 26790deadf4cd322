import Foundation
import OpsAPI
import Testing
import TestSupport

/// The starter config as `make install` and the package install it, under the shipped unit (as
/// the user ops, in its sandbox): a first start on a host with no application is green.
extension SystemdServiceTests {
    @Test("the starter deploy/ops.yaml starts green under the shipped unit: every check OK, health and status exit 0, and the cron file's lines print nothing")
    func starterIsGreen() async throws {
        let starter = try String(contentsOfFile: "\(repositoryRoot)/deploy/ops.yaml", encoding: .utf8)
        try await Sandbox.install(config: starter)
        // As scripts/install.sh leaves it: root:ops, 0640. A fresh host has no state database
        // yet (an earlier test's history would let the checks resume their states instead).
        _ = try await Sandbox.shell("chown root:ops /etc/ops/ops.yaml && chmod 0640 /etc/ops/ops.yaml && rm -f /var/lib/ops/state.db /var/lib/ops/state.db-wal /var/lib/ops/state.db-shm")
        let cursor = try await Sandbox.cursor()
        let start = try await Sandbox.exec("systemctl", "start", "opsd.service")
        #expect(start.status == 0, "\(start.stderr)")

        // `systemctl start` returns at READY=1; each check's first result is awaited in the journal.
        let status = try await Sandbox.exec("runuser", "-u", "ops", "--", "opsctl", "--config", "/etc/ops/ops.yaml", "status", "--json")
        #expect(status.status == 0, "\(status.stdout)\(status.stderr)")
        let report = try WireJSON.decoder.decode(StatusReport.self, from: Data(status.stdout.utf8))
        #expect(!report.checks.isEmpty)
        try await Sandbox.waitForJournal("check state changed", after: cursor, count: report.checks.count)
        let changes = try await Sandbox.journal(after: cursor, match: "SYSLOG_IDENTIFIER=opsd").filter { $0["MESSAGE"] == "check state changed" }
        for change in changes { #expect(change["OPS_TO"] == "ok", "\(change["OPS_CHECK"] ?? "?"): \(change["OPS_MESSAGE"] ?? "")") }

        let health = try await Sandbox.exec("runuser", "-u", "ops", "--", "opsctl", "--config", "/etc/ops/ops.yaml", "health")
        #expect(health.status == 0 && health.stdout.hasSuffix("Overall: OK\n"), "\(health.stdout)\(health.stderr)")
        let again = try await Sandbox.exec("runuser", "-u", "ops", "--", "opsctl", "--config", "/etc/ops/ops.yaml", "status")
        #expect(again.status == 0, "\(again.stdout)\(again.stderr)")

        // cron mails whatever a line prints: with the starter, every line of deploy/cron/ops is silent.
        let shipped = try String(contentsOfFile: "\(repositoryRoot)/deploy/cron/ops", encoding: .utf8)
        let lines = shipped.split(separator: "\n").filter { $0.first.map { $0.isNumber || $0 == "*" } ?? false }
        #expect(lines.count == 4, "\(lines)")
        for line in lines {
            let command = String(line.split(separator: " ", maxSplits: 6, omittingEmptySubsequences: true)[6])
            let ran = try await Sandbox.exec(
                "runuser", "-u", "ops", "--", "env", "OPS_CONFIG=/etc/ops/ops.yaml", "PATH=/usr/local/bin:/usr/bin:/bin", "/bin/sh", "-c", command)
            #expect(ran.stdout.isEmpty && ran.stderr.isEmpty, "\(command) printed: \(ran.stdout)\(ran.stderr)")
        }
        _ = try await Sandbox.exec("systemctl", "stop", "opsd.service")
    }
}
