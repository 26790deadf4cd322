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
            let host = try await run("\(repositoryRoot)/scripts/check-unit.sh", ["\(repositoryRoot)/deploy/systemd/\(unit)", "2.0"])
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

    @Test("Debian's cron runs every line of deploy/cron/ops as ops and mails nothing while all is well, one mail with the Nagios line once a check is CRITICAL")
    func cronMailsOnlyFailures() async throws {
        try await Self.prepareDeployment()
        // cron serves hosts without opsd's scheduler: opsd is down, so every line runs in-process
        // (the noisy path: a notice and logs on stderr).
        _ = try await Sandbox.exec("systemctl", "stop", "opsd.service")
        try await Sandbox.install(config: Self.deploymentConfig + """

            checks:
              - {name: flag, command: [/bin/sh, -c, "test -e /var/lib/ops/broken && { echo FLAG CRITICAL - flag set; exit 2; }; echo FLAG OK"]}
            """)
        let cronActive = try await Sandbox.exec("systemctl", "is-active", "cron.service")
        try #require(cronActive.stdout.hasPrefix("active"), "cron is not running in the sandbox (SANDBOX_EXTRA_PACKAGES=cron)")
        // A mailer that keeps each mail cron hands it (cron runs it as the line's user).
        try await Sandbox.copy(text: "#!/bin/sh\n{ cat; echo '--- end of mail'; } >> /var/lib/ops/cron-mail\n", to: "/usr/sbin/sendmail")
        _ = try await Sandbox.shell("chmod 0755 /usr/sbin/sendmail && rm -f /var/lib/ops/broken /var/lib/ops/cron-mail")

        // The shipped file as it is, every line due every minute.
        let shipped = try String(contentsOfFile: "\(repositoryRoot)/deploy/cron/ops", encoding: .utf8)
        let jobs = shipped.split(separator: "\n").filter { $0.first.map { $0.isNumber || $0 == "*" } ?? false }
        #expect(jobs.count == 4, "\(jobs)")
        let everyMinute = shipped.split(separator: "\n", omittingEmptySubsequences: false).map { line -> String in
            guard line.first.map({ $0.isNumber || $0 == "*" }) ?? false else { return String(line) }
            return "* * * * * " + line.split(separator: " ", maxSplits: 5, omittingEmptySubsequences: true)[5]
        }.joined(separator: "\n")

        /// Waits until cron has run every line once after `cursor` (each run closes a PAM session
        /// of ops when it ends, mail included), and returns the mail kept since the start.
        func mailAfterOneRound(_ cursor: String) async throws -> [String] {
            try await Sandbox.waitForJournal("session closed for user ops", after: cursor, limit: 150, count: jobs.count)
            let mail = try await Sandbox.shell("cat /var/lib/ops/cron-mail 2>/dev/null").stdout
            return mail.components(separatedBy: "--- end of mail\n").filter { !$0.isEmpty }
        }

        var cursor = try await Sandbox.cursor()
        try await Sandbox.copy(text: everyMinute + "\n", to: "/etc/cron.d/ops")
        _ = try await Sandbox.shell("chown root:root /etc/cron.d/ops && chmod 0644 /etc/cron.d/ops")
        let quiet = try await mailAfterOneRound(cursor)
        #expect(quiet.isEmpty, "mail on success: \(quiet)")
        let cronLines = try await Sandbox.journal(after: cursor).filter { $0["SYSLOG_IDENTIFIER"] == "cron" || $0["SYSLOG_IDENTIFIER"] == "CRON" }
        let messages = cronLines.compactMap { $0["MESSAGE"] }
        for command in ["opsctl backup", "opsctl health --nagios", "opsctl jobs run db-maintenance", "opsctl jobs run prune-history"] {
            #expect(messages.contains { $0.contains("(ops) CMD (") && $0.contains(command) }, "\(command) did not run: \(messages)")
        }
        let complaints = messages.filter { $0.contains("ERROR") || $0.contains("Error") || $0.contains("BAD") || $0.contains("WRONG") || $0.contains("bad ") }
        #expect(complaints.isEmpty, "\(complaints)")
        // The lines did their work: the backup exists and the jobs recorded their runs.
        let list = try await Sandbox.shell("runuser -u ops -- opsctl --config /etc/ops/ops.yaml backup list")
        #expect(list.status == 0 && list.stdout.contains("app"), "\(list.stdout)\(list.stderr)")

        cursor = try await Sandbox.cursor()
        _ = try await Sandbox.shell("touch /var/lib/ops/broken")
        let loud = try await mailAfterOneRound(cursor)
        #expect(loud.count == 1, "\(loud)")
        #expect(loud.first?.contains("OPSD CRITICAL - 1 of 1 checks not OK: flag CRITICAL: FLAG CRITICAL - flag set") == true, "\(loud)")
        _ = try await Sandbox.shell("rm -f /etc/cron.d/ops /usr/sbin/sendmail /var/lib/ops/broken /var/lib/ops/cron-mail")
    }
}
