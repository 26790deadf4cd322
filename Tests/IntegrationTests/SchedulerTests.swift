import ControlPlane
import Foundation
import Jobs
import OpsAPI
import Testing
import TestSupport

func jobRuns(_ name: String, _ config: String) async throws -> [JobRunStatus] {
    let result = try await run("opsctl", ["jobs", "show", name, "--json", "--config", config])
    guard result.status == 0 else { throw TestFailure("opsctl jobs \(name) failed: \(result.stderr)") }
    return try WireJSON.decoder.decode([JobRunStatus].self, from: Data(result.stdout.utf8))
}

func lines(_ path: String) -> [String] {
    ((try? String(contentsOfFile: path, encoding: .utf8)) ?? "").split(separator: "\n").map(String.init)
}

@Suite("The scheduler, with a real opsd")
struct SchedulerTests {
    /// Records in the state database that both jobs last ran two hours ago, as an opsd that was
    /// then stopped would have left it.
    private func seedLastRun(_ scratch: Scratch, jobs: [String], hoursAgo: Double) async throws {
        try FileManager.default.createDirectory(atPath: "\(scratch.path)/state", withIntermediateDirectories: true)
        let store = try JobRunStore(stateDirectory: "\(scratch.path)/state")
        let then = Date().addingTimeInterval(-hoursAgo * 3600)
        for job in jobs {
            let id = try await store.started(job, scheduled: then, at: then)
            try await store.finished(id, result: .ok, attempts: 1, message: "seeded", at: then)
        }
    }

    @Test("a run missed while opsd was down happens once at start with catch_up, never without, and a restart does not repeat it")
    func catchUp() async throws {
        let scratch = try Scratch()
        let config = try scratch.config(extra: """
              log_level: debug
            jobs:
              - {name: catchup, every: 1h, catch_up: true, command: [/bin/sh, -c, "echo ran >> \(scratch.path)/catchup.out"]}
              - {name: plain, every: 1h, command: [/bin/sh, -c, "echo ran >> \(scratch.path)/plain.out"]}
            """)
        try await seedLastRun(scratch, jobs: ["catchup", "plain"], hoursAgo: 2.5)

        let first = try await Daemon(config: config, scratch: scratch)
        _ = try await first.logStream.first { $0.message.hasPrefix("catching up") && $0.fields["job"] == "catchup" }
        _ = try await first.logStream.first { $0.message.hasPrefix("run succeeded") && $0.fields["job"] == "catchup" }
        // `plain` plans its next run on its old phase (seeded + 3h = in half an hour), without a run now.
        let plainNext = try await first.logStream.first { $0.message == "next run" && $0.fields["job"] == "plain" }
        let nextAt = try #require(plainNext.fields["at"].flatMap { ISO8601DateFormatter().date(from: $0) })
        #expect(nextAt.timeIntervalSinceNow > 20 * 60 && nextAt.timeIntervalSinceNow < 31 * 60)
        first.signal(SIGTERM)
        #expect(await first.exitStatus() == 0)
        #expect(first.lines(where: { $0.message == "run started" && $0.fields["job"] == "plain" }).isEmpty)
        #expect(lines("\(scratch.path)/catchup.out") == ["ran"])
        #expect(!FileManager.default.fileExists(atPath: "\(scratch.path)/plain.out"))

        // Restart: the catch-up run is recorded under the latest missed fire time, so nothing is due.
        let second = try await Daemon(config: config, scratch: scratch)
        _ = try await second.logStream.first { $0.message == "next run" && $0.fields["job"] == "catchup" }
        second.signal(SIGTERM)
        #expect(await second.exitStatus() == 0)
        #expect(second.lines(where: { $0.message.hasPrefix("catching up") }).isEmpty)
        #expect(lines("\(scratch.path)/catchup.out") == ["ran"])
        let runs = try await jobRuns("catchup", config)
        #expect(runs.map(\.result) == [.ok, .ok])  // the catch-up run, then the seeded one
    }

    @Test("a catch-up later than misfire_grace is recorded as missed and does not run")
    func misfireGrace() async throws {
        let scratch = try Scratch()
        let config = try scratch.config(extra: """
              log_level: debug
            jobs:
              - {name: strict, every: 1h, catch_up: true, misfire_grace: 1m, command: [/bin/sh, -c, "echo ran >> \(scratch.path)/strict.out"]}
            """)
        try await seedLastRun(scratch, jobs: ["strict"], hoursAgo: 2.5)
        let daemon = try await Daemon(config: config, scratch: scratch)
        let missed = try await daemon.logStream.first { $0.message.hasPrefix("missed:") && $0.fields["job"] == "strict" }
        #expect(missed.message.hasSuffix("late, beyond misfire_grace 1m"))
        daemon.signal(SIGTERM)
        #expect(await daemon.exitStatus() == 0)
        #expect(!FileManager.default.fileExists(atPath: "\(scratch.path)/strict.out"))
        let runs = try await jobRuns("strict", config)
        #expect(runs.first?.result == .missed && runs.first?.startedAt == nil)

        // The missed fire time counts as handled: a restart does not miss it again.
        let again = try await Daemon(config: config, scratch: scratch)
        _ = try await again.logStream.first { $0.message == "next run" && $0.fields["job"] == "strict" }
        again.signal(SIGTERM)
        _ = await again.exitStatus()
        #expect(again.lines(where: { $0.message.hasPrefix("missed:") }).isEmpty)
    }

    @Test("a run still going when the next is due is skipped and recorded, never overlapped")
    func noOverlap() async throws {
        let scratch = try Scratch()
        let config = try scratch.config(extra: """
            jobs:
              - {name: slow, every: 1s, command: [/bin/sh, -c, "echo start >> \(scratch.path)/slow.out; sleep 2.5; echo end >> \(scratch.path)/slow.out"]}
            """)
        let daemon = try await Daemon(config: config, scratch: scratch)
        let skipped = try await daemon.logStream.first { $0.message.hasPrefix("skipped: the previous run is still going") }
        #expect(skipped.fields["job"] == "slow")
        _ = try await daemon.logStream.nth(2) { $0.message.hasPrefix("run succeeded") && $0.fields["job"] == "slow" }
        let runs = try await jobRuns("slow", config)
        daemon.signal(SIGTERM)
        _ = await daemon.exitStatus()
        #expect(runs.contains { $0.result == .skipped && $0.startedAt == nil })
        // Every start follows the previous run's end: the output alternates start, end, start, …
        let output = lines("\(scratch.path)/slow.out")
        #expect(output.count >= 4)
        #expect(output.enumerated().allSatisfy { $0.element == ($0.offset % 2 == 0 ? "start" : "end") })
        let started = runs.filter { $0.startedAt != nil }.sorted { $0.scheduledAt < $1.scheduledAt }
        for (earlier, later) in zip(started, started.dropFirst()) {
            if let end = earlier.finishedAt, let start = later.startedAt { #expect(start >= end) }
        }
    }

    @Test("a failing command job is retried with doubling delays, then recorded as failed")
    func retries() async throws {
        let scratch = try Scratch()
        let config = try scratch.config(extra: """
            jobs:
              - name: flaky
                schedule: "@reboot"
                retries: 2
                retry_backoff: 100ms..1s
                command: [/bin/sh, -c, "echo attempt $OPS_ATTEMPT >> \(scratch.path)/attempts; exit 3"]
            """)
        let daemon = try await Daemon(config: config, scratch: scratch)
        let failed = try await daemon.logStream.first { $0.message.hasPrefix("run failed") && $0.fields["job"] == "flaky" }
        #expect(failed.message == "run failed after 3 attempts: /bin/sh ended with exit 3")
        let retryLines = daemon.lines(where: { $0.message.contains("retrying in") }).map(\.message)
        #expect(retryLines == [
            "attempt 1 failed: /bin/sh ended with exit 3; retrying in 100ms",
            "attempt 2 failed: /bin/sh ended with exit 3; retrying in 200ms",
        ])
        #expect(lines("\(scratch.path)/attempts") == ["attempt 1", "attempt 2", "attempt 3"])
        let record = try #require(try await jobRuns("flaky", config).first)
        #expect(record.result == .failed && record.attempts == 3)
        daemon.signal(SIGTERM)
        _ = await daemon.exitStatus()
    }

    @Test("a job over its timeout is stopped with its whole process group and fails")
    func timeout() async throws {
        let scratch = try Scratch()
        let config = try scratch.config(extra: """
            jobs:
              - name: hang
                schedule: "@reboot"
                timeout: 300ms
                command: [/bin/sh, -c, "sleep 1000 & echo $! > \(scratch.path)/child.pid; wait"]
            """)
        let daemon = try await Daemon(config: config, scratch: scratch)
        let failed = try await daemon.logStream.first { $0.message.hasPrefix("run failed") && $0.fields["job"] == "hang" }
        #expect(failed.message == "run failed after 1 attempt: timed out after 300ms")
        let child = try #require(Int32(lines("\(scratch.path)/child.pid").first ?? ""))
        #expect(await waitForExit(of: child))
        daemon.signal(SIGTERM)
        _ = await daemon.exitStatus()
    }

    @Test("stopping opsd stops a running job's processes and records the run as interrupted")
    func shutdownInterruptsRuns() async throws {
        let scratch = try Scratch()
        let config = try scratch.config(extra: """
            jobs:
              - {name: long, schedule: "@reboot", command: [/bin/sh, -c, "sleep 1000 & echo $! > \(scratch.path)/child.pid; echo started; wait"]}
            """)
        let daemon = try await Daemon(config: config, scratch: scratch)
        _ = try await daemon.logStream.first { $0.message == "started" && $0.fields["job"] == "long" }
        let child = try #require(Int32(lines("\(scratch.path)/child.pid").first ?? ""))
        daemon.signal(SIGTERM)
        #expect(await daemon.exitStatus() == 0)
        #expect(await waitForExit(of: child, limit: 1000))
        #expect(try await jobRuns("long", config).first?.result == .interrupted)
    }

    @Test("opsctl jobs works without a daemon and says so; schedule preview prints DST-aware times")
    func opsctlWithoutDaemon() async throws {
        let scratch = try Scratch()
        let config = try scratch.config(extra: """
            jobs:
              - {name: nightly, schedule: "30 2 * * *", timezone: Europe/Berlin, command: [/bin/true]}
            """)
        let listed = try await run("opsctl", ["jobs", "--json", "--config", config])
        #expect(listed.status == 0)
        let jobs = try WireJSON.decoder.decode([JobStatus].self, from: Data(listed.stdout.utf8))
        #expect(jobs.map(\.name) == ["nightly"] && jobs[0].trigger == "30 2 * * * (Europe/Berlin)" && jobs[0].nextRun != nil)
        let human = try await run("opsctl", ["jobs", "--config", config])
        #expect(human.stderr.contains("opsd is not running; next runs are computed from"))
        #expect(human.stdout.contains("nightly") && human.stdout.contains("never"))

        let preview = try await run("opsctl", ["schedule", "preview", "30 2 * * *", "--tz", "Europe/Berlin", "--from", "2026-03-28T12:00:00+01:00", "--count", "2", "--json"])
        #expect(preview.status == 0)
        #expect(try JSONDecoder().decode([String].self, from: Data(preview.stdout.utf8)) == ["2026-03-29T03:00:00+02:00", "2026-03-30T02:30:00+02:00"])
        let bad = try await run("opsctl", ["schedule", "preview", "61 * * * *"])
        #expect(bad.status == 1)
        #expect(bad.stderr.hasPrefix("opsctl: invalid cron expression \"61 * * * *\": the minute field has `61`"))
        let badZone = try await run("opsctl", ["schedule", "preview", "@daily", "--tz", "Mars/Base"])
        #expect(badZone.status == 1 && badZone.stderr.contains("is not a time zone"))
    }
}

@Suite("Reloading jobs")
struct JobReloadTests {
    func jobs(_ config: String) async throws -> [JobStatus] {
        let result = try await run("opsctl", ["jobs", "--json", "--config", config])
        return try WireJSON.decoder.decode([JobStatus].self, from: Data(result.stdout.utf8))
    }

    @Test("a reload restarts only the jobs whose definition changed; the others keep their next run")
    func reloadTouchesOnlyChangedJobs() async throws {
        let scratch = try Scratch()
        let config = try scratch.config(extra: """
            jobs:
              - {name: a, every: 1h, command: [/bin/true]}
              - {name: b, every: 1h, command: [/bin/true]}
            """)
        let daemon = try await Daemon(config: config, scratch: scratch)
        let before = try await jobs(config)
        #expect(before.map(\.name) == ["a", "b"] && before.allSatisfy { $0.nextRun != nil })
        _ = try scratch.config(extra: """
            jobs:
              - {name: a, every: 1h, command: [/bin/true]}
              - {name: b, every: 2h, command: [/bin/true]}
              - {name: c, schedule: "0 3 * * *", command: [/bin/true]}
            """)
        let reload = try await run("opsctl", ["reload", "--config", config])
        #expect(reload.status == 0, "\(reload.stderr)")
        let changed = try await daemon.logStream.first { $0.message == "jobs changed by reload" }
        #expect(changed.fields["jobs"] == "b, c")
        let after = try await jobs(config)
        #expect(after.map(\.name) == ["a", "b", "c"])
        #expect(after[0].nextRun == before[0].nextRun)
        #expect(after[1].trigger == "every 2h" && after[2].trigger == "0 3 * * *")
        daemon.signal(SIGTERM)
        _ = await daemon.exitStatus()
    }
}

@Suite("opsctl jobs run")
struct RunNowTests {
    @Test("through opsd: runs now, returns the record, and refuses a job that is running already")
    func throughDaemon() async throws {
        let scratch = try Scratch()
        let config = try scratch.config(extra: """
            jobs:
              - {name: manual, every: 1h, command: [/bin/sh, -c, "echo ran >> \(scratch.path)/manual.out"]}
              - {name: busy, schedule: "@reboot", command: [/bin/sleep, "600"]}
            """)
        let daemon = try await Daemon(config: config, scratch: scratch)
        let result = try await run("opsctl", ["jobs", "run", "manual", "--json", "--config", config])
        #expect(result.status == 0)
        let record = try WireJSON.decoder.decode(JobRunStatus.self, from: Data(result.stdout.utf8))
        #expect(record.result == .ok && record.attempts == 1)
        #expect(lines("\(scratch.path)/manual.out") == ["ran"])

        _ = try await daemon.logStream.first { $0.message == "run started" && $0.fields["job"] == "busy" }
        let refused = try await run("opsctl", ["jobs", "run", "busy", "--config", config])
        #expect(refused.status == 1)
        #expect(refused.stderr == "opsctl: busy is running already; wait for it to finish (`opsctl jobs show busy`)\n")
        let unknown = try await run("opsctl", ["jobs", "run", "nope", "--config", config])
        #expect(unknown.status == 1 && unknown.stderr.contains("no job named nope"))
        daemon.signal(SIGTERM)
        _ = await daemon.exitStatus()
    }

    @Test("without opsd: runs in-process, says so, prints the output and records the run")
    func inProcess() async throws {
        let scratch = try Scratch()
        let config = try scratch.config(extra: """
            jobs:
              - {name: manual, every: 1h, command: [/bin/sh, -c, "echo hello from the job"]}
              - {name: broken, every: 1h, command: [/bin/sh, -c, "exit 4"]}
            """)
        let result = try await run("opsctl", ["jobs", "run", "manual", "--config", config])
        #expect(result.status == 0)
        #expect(result.stderr.contains("opsd is not running; running manual in this process"))
        #expect(result.stdout.contains("hello from the job\n"))
        #expect(result.stdout.contains("manual: ok"))
        #expect(try await jobRuns("manual", config).map(\.result) == [.ok])
        let broken = try await run("opsctl", ["jobs", "run", "broken", "--config", config])
        #expect(broken.status == 1 && broken.stdout.contains("broken: failed") && broken.stdout.contains("exit 4"))
    }
}

extension Daemon {
    func lines(where predicate: (LogLine) -> Bool) -> [LogLine] { logStream.lines.filter(predicate) }
}

@Suite("opsd's scheduled backups, taken by the opsctl-backup companion")
struct ScheduledBackupTests {
    @Test("a backup run through opsd commits to the repository and records the commit; a failing one records the companion's reason")
    func companionBackup() async throws {
        let scratch = try Scratch()
        let database = "\(scratch.path)/app.db"
        let created = try await run("/usr/bin/sqlite3", [database, "CREATE TABLE t (x); INSERT INTO t VALUES (1);"])
        try #require(created.status == 0)
        // A job of its own, without the default backup job's retries (30 s apart).
        let config = try scratch.config(extra: """
            jobs:
              - {name: nightly, schedule: "0 3 * * *", backup: {}}
            backup:
              repository: \(scratch.path)/backup.git
              databases: [\(database)]
            """)
        let daemon = try await Daemon(config: config, scratch: scratch)
        let result = try await run("opsctl", ["jobs", "run", "nightly", "--json", "--config", config])
        #expect(result.status == 0, "\(result.stderr)")
        let record = try WireJSON.decoder.decode(JobRunStatus.self, from: Data(result.stdout.utf8))
        #expect(record.result == .ok, "\(record.message)")
        let listed = try await run("opsctl", ["backup", "list", "--json", "--config", config])
        #expect(listed.status == 0, "\(listed.stderr)")
        let commit = try #require(listed.stdout.firstMatch(of: /"commit" : "([0-9a-f]{40})"/)?.1)
        #expect(record.message == "commit \(commit.prefix(12))")

        // The database disappears: the companion fails, and its reason is the run's message.
        try FileManager.default.removeItem(atPath: database)
        let failed = try await run("opsctl", ["jobs", "run", "nightly", "--json", "--config", config])
        let failure = try WireJSON.decoder.decode(JobRunStatus.self, from: Data(failed.stdout.utf8))
        #expect(failure.result == .failed)
        #expect(failure.message?.contains(database) == true, "\(failure.message ?? "")")
        daemon.signal(SIGTERM)
        _ = await daemon.exitStatus()
    }
}
