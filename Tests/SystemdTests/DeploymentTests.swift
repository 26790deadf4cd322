import ControlPlane
import Foundation
import OpsAPI
import Testing
import TestSupport

/// The timer and cron files of deploy/, under the sandbox's real systemd and Debian's real cron.
/// Part of the serialized systemd suite: they share the sandbox's /etc/ops/ops.yaml.
extension SystemdServiceTests {
    /// A config whose backup, state and jobs live in /var/lib/ops inside the sandbox.
    static let deploymentConfig = """
        daemon:
          socket: /run/ops/opsd.sock
          state_dir: /var/lib/ops
        jobs:
          - {name: prune-history, every: 1d, prune: {keep: 30d}}
          - {name: db-maintenance, every: 7d, sqlite: {databases: [/var/lib/ops/app.db], integrity_check: true}}
        backup:
          repository: /var/lib/ops/backup.git
          databases: [/var/lib/ops/app.db]
        """

    /// Installs the deployment config and a small database owned by ops.
    static func prepareDeployment() async throws {
        try await Sandbox.install(config: deploymentConfig)
        let database = NSTemporaryDirectory() + "app-\(UUID().uuidString).db"
        defer { try? FileManager.default.removeItem(atPath: database) }
        let created = try await run("/usr/bin/sqlite3", [database, "CREATE TABLE t (x); INSERT INTO t VALUES (1), (2);"])
        guard created.status == 0 else { throw TestFailure("sqlite3 failed: \(created.stderr)") }
        _ = try await Sandbox.shell("install -d -o ops -g ops -m 0750 /var/lib/ops")
        _ = try await run(Sandbox.tool, ["copy", database, "/var/lib/ops/app.db"])
        _ = try await Sandbox.shell("chown ops:ops /var/lib/ops/app.db")
    }

    @Test("every unit in deploy/systemd passes systemd-analyze verify, on the host and inside the sandbox")
    func everyUnitVerifies() async throws {
        for unit in ["opsd.service", "opsd-backup.service", "opsd-backup.timer"] {
            let host = try await run("\(repositoryRoot)/scripts/check-unit.sh", ["\(repositoryRoot)/deploy/systemd/\(unit)", "3.0"])
            #expect(host.status == 0, "\(unit): \(host.stdout)\(host.stderr)")
        }
        _ = try await run(Sandbox.tool, ["install-unit", "\(repositoryRoot)/deploy/systemd/opsd-backup.service"])
        _ = try await run(Sandbox.tool, ["install-unit", "\(repositoryRoot)/deploy/systemd/opsd-backup.timer"])
        let inside = try await Sandbox.exec("systemd-analyze", "verify", "/etc/systemd/system/opsd-backup.service", "/etc/systemd/system/opsd-backup.timer")
        #expect(inside.status == 0 && inside.stderr.isEmpty, "\(inside.stderr)")
    }

    @Test("the backup timer is listed by systemctl list-timers, fires, and runs opsctl backup as ops")
    func backupTimerFires() async throws {
        try await Self.prepareDeployment()
        _ = try await run(Sandbox.tool, ["install-unit", "\(repositoryRoot)/deploy/systemd/opsd-backup.service"])
        _ = try await run(Sandbox.tool, ["install-unit", "\(repositoryRoot)/deploy/systemd/opsd-backup.timer"])
        // Fire one second after activation as well as nightly, so the test need not wait for 03:17.
        try await Sandbox.copy(text: "[Timer]\nOnActiveSec=1s\nRandomizedDelaySec=0\n", to: "/etc/systemd/system/opsd-backup.timer.d/test.conf")
        _ = try await Sandbox.exec("systemctl", "daemon-reload")
        _ = try await Sandbox.exec("systemctl", "stop", "opsd-backup.timer", "opsd-backup.service")
        _ = try await Sandbox.exec("systemctl", "reset-failed", "opsd-backup.service")
        let cursor = try await Sandbox.cursor()
        let started = try await Sandbox.exec("systemctl", "start", "opsd-backup.timer")
        #expect(started.status == 0, "\(started.stderr)")
        let timers = try await Sandbox.exec("systemctl", "list-timers", "--all", "--no-pager", "opsd-backup.timer")
        #expect(timers.stdout.contains("opsd-backup.timer") && timers.stdout.contains("opsd-backup.service"), "\(timers.stdout)")

        // "opsd-backup.service: Deactivated successfully." or "…: Main process exited, …": the run is over.
        try await Sandbox.waitForJournal("opsd-backup.service: ", after: cursor, limit: 120)
        _ = try await Sandbox.shell("while systemctl is-active -q opsd-backup.service; do sleep 0.1; done")
        let result = try await Sandbox.exec("systemctl", "show", "-p", "Result", "-p", "ExecMainStatus", "--value", "opsd-backup.service")
        #expect(result.stdout.split(separator: "\n") == ["success", "0"], "\(result.stdout)")
        let user = try await Sandbox.shell("stat -c %U /var/lib/ops/backup.git")
        #expect(user.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == "ops")
        // The sandbox has no git CLI; opsctl reads the repository the timer's run wrote.
        let list = try await Sandbox.shell("runuser -u ops -- opsctl --config /etc/ops/ops.yaml backup list")
        #expect(list.status == 0 && list.stdout.contains("app"), "\(list.stdout)\(list.stderr)")
        _ = try await Sandbox.exec("systemctl", "stop", "opsd-backup.timer")
        _ = try await Sandbox.shell("rm -rf /etc/systemd/system/opsd-backup.timer.d && systemctl daemon-reload")
    }

    @Test("opsd.service takes its scheduled backup through opsctl-backup, inside the unit's sandbox, as ops")
    func scheduledBackupUnderTheUnit() async throws {
        try await Self.prepareDeployment()
        try await Sandbox.reset(config: Self.deploymentConfig + "\n  schedule: \"0 3 * * *\"\n")
        let start = try await Sandbox.exec("systemctl", "start", "opsd.service")
        #expect(start.status == 0, "\(start.stderr)")
        let ran = try await Sandbox.exec("opsctl", "--config", "/etc/ops/ops.yaml", "jobs", "run", "backup", "--json")
        #expect(ran.status == 0, "\(ran.stdout)\(ran.stderr)")
        let record = try WireJSON.decoder.decode(JobRunStatus.self, from: Data(ran.stdout.utf8))
        // The companion's own record of this run (the timer's test may have committed the same
        // database already): a new commit, or nothing to commit.
        let summary = record.message ?? ""
        #expect(record.result == .ok && (summary.hasPrefix("commit ") || summary == "no change since the previous backup"), "\(record)")
        let user = try await Sandbox.shell("stat -c %U /var/lib/ops/backup.git")
        #expect(user.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == "ops")
        _ = try await Sandbox.exec("systemctl", "stop", "opsd.service")
    }

    @Test("Debian's cron loads deploy/cron/ops without complaint and runs its lines as ops")
    func cronRunsTheFile() async throws {
        try await Self.prepareDeployment()
        let cronActive = try await Sandbox.exec("systemctl", "is-active", "cron.service")
        try #require(cronActive.stdout.hasPrefix("active"), "cron is not running in the sandbox (SANDBOX_EXTRA_PACKAGES=cron)")
        let cursor = try await Sandbox.cursor()
        // The shipped file as it is, and a copy of its prune-history line due every minute, whose
        // output goes to a file instead of mail.
        let shipped = try String(contentsOfFile: "\(repositoryRoot)/deploy/cron/ops", encoding: .utf8)
        let header = shipped.split(separator: "\n").filter { $0.contains("=") && !$0.hasPrefix("#") }.joined(separator: "\n")
        guard let line = shipped.split(separator: "\n").first(where: { $0.contains("opsctl jobs run prune-history") }) else {
            throw TestFailure("deploy/cron/ops has no prune-history line")
        }
        let command = line.split(separator: " ", omittingEmptySubsequences: true).dropFirst(6).joined(separator: " ")
            .replacingOccurrences(of: ">/dev/null", with: ">/var/lib/ops/cron.out 2>&1")
        try await Sandbox.copy(text: shipped, to: "/etc/cron.d/ops")
        try await Sandbox.copy(text: header + "\n* * * * *   ops   \(command)\n", to: "/etc/cron.d/ops-now")
        _ = try await Sandbox.shell("chown root:root /etc/cron.d/ops /etc/cron.d/ops-now && chmod 0644 /etc/cron.d/ops /etc/cron.d/ops-now")

        try await Sandbox.waitForJournal("opsctl jobs run prune-history >/var/lib/ops/cron.out", after: cursor, limit: 150)
        let output = try await Sandbox.shell("for i in $(seq 50); do grep -q 'prune-history: ok' /var/lib/ops/cron.out 2>/dev/null && break; sleep 0.2; done; cat /var/lib/ops/cron.out")
        #expect(output.stdout.contains("prune-history: ok"), "\(output.stdout)")
        let cronLines = try await Sandbox.journal(after: cursor).filter { $0["SYSLOG_IDENTIFIER"] == "cron" || $0["SYSLOG_IDENTIFIER"] == "CRON" }
        let complaints = cronLines.compactMap { $0["MESSAGE"] }.filter {
            $0.contains("ERROR") || $0.contains("Error") || $0.contains("BAD") || $0.contains("WRONG") || $0.contains("bad ")
        }
        #expect(complaints.isEmpty, "\(complaints)")
        _ = try await Sandbox.shell("rm -f /etc/cron.d/ops /etc/cron.d/ops-now")
    }
}
