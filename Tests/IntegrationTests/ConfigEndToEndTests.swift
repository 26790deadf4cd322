import Foundation
import OpsAPI
import Testing
import TestSupport

/// Issue 13 item 5 through the real programs: a job whose name is one of opsctl's companion
/// commands, and what a reload reports.
@Suite("typed configuration, end to end")
struct ConfigEndToEndTests {
    /// A config with a command job named `backup`, which appends a line to `backup.out`.
    private static func backupJobConfig(_ scratch: Scratch) throws -> String {
        try scratch.config(extra: """
            jobs:
              - {name: backup, every: 1h, command: [/bin/sh, -c, "echo ran >> \(scratch.path)/backup.out"]}
            """)
    }

    @Test("opsctl jobs run backup --config X runs the job named backup, without opsd, whichever side of the name --config is on")
    func jobNamedBackupInProcess() async throws {
        let scratch = try Scratch()
        let config = try Self.backupJobConfig(scratch)

        let after = try await run("opsctl", ["jobs", "run", "backup", "--config", config])
        #expect(after.status == 0, "\(after.stderr)")
        #expect(after.stdout.contains("backup: ok"), "\(after.stdout)")
        let equals = try await run("opsctl", ["jobs", "run", "backup", "--config=\(config)", "--json"])
        #expect(equals.status == 0, "\(equals.stderr)")
        let before = try await run("opsctl", ["--config", config, "jobs", "run", "backup"])
        #expect(before.status == 0, "\(before.stderr)")
        #expect(lines("\(scratch.path)/backup.out") == ["ran", "ran", "ran"])

        let show = try await run("opsctl", ["jobs", "show", "backup", "--config", config, "--json"])
        #expect(show.status == 0, "\(show.stderr)")
        #expect(try WireJSON.decoder.decode([JobRunStatus].self, from: Data(show.stdout.utf8)).map(\.result) == [.ok, .ok, .ok])
    }

    @Test("a worker and a check named backup: workers restart backup --config X and health backup --config X reach opsd")
    func workerAndCheckNamedBackup() async throws {
        let scratch = try Scratch()
        let config = try scratch.config(extra: """
            workers:
              - {name: backup, command: [sleep, "1000"]}
            checks:
              - {name: backup, disk: /, warn: 99%, crit: 100%}
            """)
        let daemon = try await Daemon(config: config, scratch: scratch)
        // Before the fix: "Unknown option '--config'. Did you mean '--config'?", exit 64.
        let restart = try await run("opsctl", ["workers", "restart", "backup", "--config", config])
        #expect(restart.status == 0, "\(restart.stderr)")
        #expect(restart.stdout.hasPrefix("backup: running"), "\(restart.stdout)")
        let health = try await run("opsctl", ["health", "backup", "--now", "--config=\(config)"])
        #expect(health.status == 0, "\(health.stderr)")
        #expect(health.stdout.contains("backup  disk  OK"), "\(health.stdout)")
        daemon.signal(SIGTERM)
        _ = await daemon.exitStatus()
    }

    @Test("opsctl jobs run backup --config X reaches opsd through the socket that config names")
    func jobNamedBackupThroughDaemon() async throws {
        let scratch = try Scratch()
        let config = try Self.backupJobConfig(scratch)
        let daemon = try await Daemon(config: config, scratch: scratch)

        let result = try await run("opsctl", ["jobs", "run", "backup", "--json", "--config", config])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(try WireJSON.decoder.decode(JobRunStatus.self, from: Data(result.stdout.utf8)).result == .ok)
        #expect(!result.stderr.contains("opsd is not running"))
        #expect(lines("\(scratch.path)/backup.out") == ["ran"])
        daemon.signal(SIGTERM)
        _ = await daemon.exitStatus()
    }

    @Test("a reload names a changed job's section, and a changed daemon.listen as needing a restart, with a log line")
    func reloadReport() async throws {
        let scratch = try Scratch()
        let config = try scratch.config(extra: "jobs:\n  - {name: report, every: 1h, command: [/bin/true]}\n")
        let daemon = try await Daemon(config: config, scratch: scratch)

        _ = try scratch.config(extra: "jobs:\n  - {name: report, every: 2h, command: [/bin/true]}\n")
        let jobs = try await run("opsctl", ["reload", "--config", config])
        #expect(jobs.status == 0)
        #expect(jobs.stdout == "configuration reloaded (changed: jobs)\n")

        // The listen line goes into the daemon section the scratch config opens.
        _ = try scratch.config(extra: "  listen: 127.0.0.1:9\njobs:\n  - {name: report, every: 2h, command: [/bin/true]}\n")
        let listen = try await run("opsctl", ["reload", "--json", "--config", config])
        #expect(listen.status == 0, "\(listen.stderr)")
        let report = try WireJSON.decoder.decode(ReloadReport.self, from: Data(listen.stdout.utf8))
        #expect(report == ReloadReport(applied: true, problems: [], changedSections: ["daemon"], needsRestart: ["daemon.listen"]))
        let warning = try await daemon.logStream.first { $0.message == "some changes take effect only after a restart of opsd" }
        #expect(warning.level == "warning" && warning.fields["settings"] == "daemon.listen")
        daemon.signal(SIGTERM)
        _ = await daemon.exitStatus()
    }
}
