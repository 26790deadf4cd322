import Backup
import Foundation
import Testing
import TestSupport

/// A `backup.before` command stopped at its timeout, or with the backup, takes what it started
/// with it: it leads a process group of its own, which the timeout signals, and to which the
/// backup passes on the signal that stops it.
@Suite("backup.before: a stopped command's process group")
struct BeforeCommandGroupTests {
    @Test("a before command past before_timeout is stopped with the background process it started")
    func timeoutStopsTheGrandchild() async throws {
        let fixture = try Fixture(rows: 200)
        #expect(try await run("/usr/bin/git", ["init", "--quiet", "--bare", fixture.remote]).status == 0)
        let pidFile = fixture.directory + "/grandchild.pid"
        try PartialBackupTests.writeConfig(fixture, databases: [fixture.database], extra: """
              before_timeout: 1s
              before:
                - [/bin/sh, -c, "sleep 1000 & echo $! > \(pidFile); wait"]
            """)
        // The backup runs while the test watches the grandchild: a backup that waited for it
        // (Foundation's Process waits for the end of a descriptor the grandchild inherits too)
        // would never return while it runs.
        async let backup = fixture.opsctl(["backup"])
        let grandchild = try #require(await Self.grandchild(writtenTo: pidFile), "the before command never wrote its background process's pid")
        // Bounded waits for what the kernel does soon after the signals, not sleeps: without the
        // process group, the sleep runs on for 1000 s.
        let stopped = await Self.within(.seconds(60)) { Self.isRunning(grandchild, command: "sleep") ? nil : true } ?? false
        if !stopped { kill(grandchild, SIGKILL) }  // so that the backup waiting for it ends
        #expect(stopped, "the before command's background sleep (pid \(grandchild)) outlived its timeout")
        let result = try await backup
        #expect(result.status == 3, "\(result.stdout)\n\(result.stderr)")
        #expect(result.stderr.contains("it ran longer than backup.before_timeout (1s) and was stopped"), "\(result.stderr)")
    }

    @Test("stopping the backup's own process group, as opsd stops a backup job, stops a running before command's group too")
    func stoppingTheBackupStopsTheCommand() async throws {
        let fixture = try Fixture(rows: 200)
        let pidFile = fixture.directory + "/grandchild.pid"
        try PartialBackupTests.writeConfig(fixture, databases: [fixture.database], extra: """
              before_timeout: 10m
              before:
                - [/bin/sh, -c, "sleep 1000 & echo $! > \(pidFile); wait"]
            """)
        // The companion as opsd's backup job starts it: leading a session and process group.
        let null = open("/dev/null", O_RDWR | O_CLOEXEC)
        defer { close(null) }
        let companion = try spawn(
            "\(binDirectory)/opsctl-backup", ["backup", "--config", fixture.configPath],
            environment: ProcessInfo.processInfo.environment, stdout: null, stderr: null, stdin: null)
        async let ended: Int32 = onNewThread {
            var status: Int32 = 0
            while waitpid(companion, &status, 0) < 0, errno == EINTR {}
            return status
        }
        guard let grandchild = await Self.grandchild(writtenTo: pidFile) else {
            kill(-companion, SIGKILL)
            _ = await ended
            Issue.record("the before command never wrote its background process's pid")
            return
        }
        // What opsd does to stop a backup job (CommandJob): SIGTERM to the job's process group,
        // which the before command, leading a group of its own, is not in.
        kill(-companion, SIGTERM)
        let stopped = await Self.within(.seconds(60)) { Self.isRunning(grandchild, command: "sleep") ? nil : true } ?? false
        if !stopped { kill(grandchild, SIGKILL) }
        #expect(stopped, "the before command's background sleep (pid \(grandchild)) outlived the backup it ran for")
        let status = await ended
        #expect(status & 0x7f == SIGTERM, "the companion ended with wait status \(status), not by the SIGTERM it was sent")
    }

    /// The pid the before command's `echo $! > FILE` wrote, once written whole.
    static func grandchild(writtenTo file: String) async -> pid_t? {
        await within(.seconds(60)) { () -> pid_t? in
            guard let text = try? String(contentsOfFile: file, encoding: .utf8), text.hasSuffix("\n") else { return nil }
            return pid_t(text.dropLast())
        }
    }

    /// `probe`'s first non-nil answer, asked every 20 ms for at most `limit`.
    static func within<T>(_ limit: Duration, _ probe: () -> T?) async -> T? {
        let deadline = ContinuousClock.now + limit
        while ContinuousClock.now < deadline {
            if let value = probe() { return value }
            try? await Task.sleep(for: .milliseconds(20))
        }
        return probe()
    }

    /// True while `pid` is a live process running `command` (a zombie waiting for a reaper has
    /// ended; a pid reused by another program is not ours).
    static func isRunning(_ pid: pid_t, command: String) -> Bool {
        guard kill(pid, 0) == 0 || errno == EPERM,
              let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let close = stat.lastIndex(of: ")") else { return false }
        let name = stat[stat.index(after: stat.firstIndex(of: "(") ?? stat.startIndex)..<close]
        let state = stat[close...].dropFirst(2).first
        return name == command && state != "Z"
    }
}
