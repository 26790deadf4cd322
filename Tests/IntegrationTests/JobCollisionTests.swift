import ControlPlane
import Foundation
import Jobs
import OpsAPI
import Testing
import TestSupport

/// Issue 16 item 5, with a real opsd: `run_at_start`, `lock:`, a job's `stop:`, and manual runs
/// that leave an interval's phase alone.
@Suite("Jobs that cannot collide")
struct JobCollisionTests {
    func jobs(_ config: String) async throws -> [JobStatus] {
        let result = try await run("opsctl", ["jobs", "--json", "--config", config])
        guard result.status == 0 else { throw TestFailure("opsctl jobs failed: \(result.stderr)") }
        return try WireJSON.decoder.decode([JobStatus].self, from: Data(result.stdout.utf8))
    }

    @Test("run_at_start runs an interval and a cron job once as opsd starts, keeps their schedule, and not at a reload")
    func runAtStart() async throws {
        let scratch = try Scratch()
        let yaml = { (every: String) in """
              log_level: debug
            jobs:
              - {name: warm, every: \(every), run_at_start: true, command: [/bin/sh, -c, "echo ran >> \(scratch.path)/warm.out"]}
              - {name: nightly, schedule: "0 3 * * *", run_at_start: true, command: [/bin/sh, -c, "echo ran >> \(scratch.path)/nightly.out"]}
              - {name: plain, every: 1h, command: [/bin/sh, -c, "echo ran >> \(scratch.path)/plain.out"]}
            """
        }
        let config = try scratch.config(extra: yaml("1h"))
        let started = Date()
        let daemon = try await Daemon(config: config, scratch: scratch)
        for job in ["warm", "nightly"] {
            _ = try await daemon.logStream.first { $0.message.hasPrefix("run succeeded") && $0.fields["job"] == job }
        }
        #expect(lines("\(scratch.path)/warm.out") == ["ran"])
        #expect(lines("\(scratch.path)/nightly.out") == ["ran"])
        #expect(daemon.lines(where: { $0.message == "run started" && $0.fields["job"] == "warm" }).first?.fields["cause"] == "start")
        // The schedule goes on as without the run: the interval's first fire time is an hour after the start.
        let warm = try #require(try await jobs(config).first { $0.name == "warm" })
        let next = try #require(warm.nextRun)
        #expect(next >= started.addingTimeInterval(3600 - 1) && next <= Date().addingTimeInterval(3600))

        // A reload that changes the job restarts its loop, which plans its next run without a run now.
        let mark = daemon.logStream.count
        _ = try scratch.config(extra: yaml("2h"))
        let reload = try await run("opsctl", ["reload", "--config", config])
        #expect(reload.status == 0, "\(reload.stderr)")
        _ = try await daemon.logStream.first(after: mark) { $0.message == "next run" && $0.fields["job"] == "warm" }
        daemon.signal(SIGTERM)
        #expect(await daemon.exitStatus() == 0)
        #expect(lines("\(scratch.path)/warm.out") == ["ran"])
        #expect(!FileManager.default.fileExists(atPath: "\(scratch.path)/plain.out"))
    }

    @Test("a manual run, through opsd or in opsctl's process, never moves an interval's phase, before or after a restart")
    func manualRunKeepsPhase() async throws {
        let scratch = try Scratch()
        let config = try scratch.config(extra: """
              log_level: debug
            jobs:
              - {name: phased, every: 1h, command: [/bin/sh, -c, "echo ran >> \(scratch.path)/phased.out"]}
            """)
        // The last scheduled run was half an hour ago: the next fire time is in half an hour.
        try FileManager.default.createDirectory(atPath: "\(scratch.path)/state", withIntermediateDirectories: true)
        let store = try JobRunStore(stateDirectory: "\(scratch.path)/state")
        let seeded = Date(timeIntervalSince1970: (Date().timeIntervalSince1970 - 1800).rounded())
        let id = try await store.started("phased", scheduled: seeded, at: seeded)
        try await store.finished(id, result: .ok, attempts: 1, message: "seeded", at: seeded)
        let due = seeded.addingTimeInterval(3600)
        let nextRun = { (daemon: Daemon, mark: Int) async throws -> Date? in
            let line = try await daemon.logStream.first(after: mark) { $0.message == "next run" && $0.fields["job"] == "phased" }
            return line.fields["at"].flatMap { ISO8601DateFormatter().date(from: $0) }
        }

        let first = try await Daemon(config: config, scratch: scratch)
        #expect(try await nextRun(first, 0) == due)
        let manual = try await run("opsctl", ["jobs", "run", "phased", "--config", config])
        #expect(manual.status == 0, "\(manual.stderr)")
        #expect(try await jobs(config).first?.nextRun == due)
        first.signal(SIGTERM)
        #expect(await first.exitStatus() == 0)

        // opsd is down: opsctl runs the job in its own process.
        let inProcess = try await run("opsctl", ["jobs", "run", "phased", "--config", config])
        #expect(inProcess.status == 0 && inProcess.stderr.contains("running phased in this process"), "\(inProcess.stderr)")
        #expect(lines("\(scratch.path)/phased.out") == ["ran", "ran"])

        // The restarted opsd continues from the last scheduled run, not from either manual one.
        let second = try await Daemon(config: config, scratch: scratch)
        #expect(try await nextRun(second, 0) == due)
        #expect(try await jobs(config).first?.nextRun == due)
        second.signal(SIGTERM)
        #expect(await second.exitStatus() == 0)
        #expect(lines("\(scratch.path)/phased.out") == ["ran", "ran"])
    }

    @Test("two jobs under one lock, writing one SQLite file on overlapping schedules, never overlap: the late one waits and says so")
    func lockWaits() async throws {
        let scratch = try Scratch()
        let database = "\(scratch.path)/app.db"
        // Each run records its own start, works a little, and records its end, in the shared file.
        let script = try scratch.write("record.py", """
            import sqlite3, sys, time
            db = sqlite3.connect(sys.argv[1], timeout=30)
            db.execute("CREATE TABLE IF NOT EXISTS runs (id INTEGER PRIMARY KEY, job TEXT, start REAL, end REAL)")
            row = db.execute("INSERT INTO runs (job, start) VALUES (?, ?)", (sys.argv[2], time.time())).lastrowid
            db.commit()
            time.sleep(0.3)
            db.execute("UPDATE runs SET end = ? WHERE id = ?", (time.time(), row))
            db.commit()
            """)
        let config = try scratch.config(extra: """
            jobs:
              - {name: a, every: 1s, run_at_start: true, lock: appdb, command: [/usr/bin/python3, \(script), \(database), a]}
              - {name: b, every: 1s, run_at_start: true, lock: appdb, command: [/usr/bin/python3, \(script), \(database), b]}
            """)
        let daemon = try await Daemon(config: config, scratch: scratch)
        for job in ["a", "b"] {
            _ = try await daemon.logStream.nth(3) { $0.message.hasPrefix("run succeeded") && $0.fields["job"] == job }
        }
        daemon.signal(SIGTERM)
        #expect(await daemon.exitStatus() == 0)
        // Both started at once (run_at_start), so one of them waited at least then.
        let waits = daemon.lines(where: { $0.message.hasPrefix("waiting for lock appdb, held by job ") })
        #expect(!waits.isEmpty)
        #expect(waits.allSatisfy { $0.message == "waiting for lock appdb, held by job \($0.fields["job"] == "a" ? "b" : "a")" })

        let dump = try await run("/usr/bin/sqlite3", [database, "SELECT job, start, end FROM runs WHERE end IS NOT NULL ORDER BY start"])
        #expect(dump.status == 0, "\(dump.stderr)")
        let runs = dump.stdout.split(separator: "\n").map { $0.split(separator: "|") }.compactMap { fields -> (job: String, start: Double, end: Double)? in
            guard fields.count == 3, let start = Double(fields[1]), let end = Double(fields[2]) else { return nil }
            return (String(fields[0]), start, end)
        }
        #expect(Set(runs.map(\.job)) == ["a", "b"] && runs.count >= 6)
        for (earlier, later) in zip(runs, runs.dropFirst()) {
            #expect(earlier.end <= later.start, "\(earlier.job) ran until \(earlier.end), \(later.job) started at \(later.start)")
        }
    }

    @Test("on_lock: skip records a skip naming the holder, in opsd and in opsctl's own process; waiting runs wait across processes and stop with opsd")
    func lockSkipsAndCrossesProcesses() async throws {
        let scratch = try Scratch()
        let ready = "\(scratch.path)/ready", release = "\(scratch.path)/release"
        try #require(mkfifo(ready, 0o600) == 0 && mkfifo(release, 0o600) == 0)
        // The holder says it holds the lock through one fifo and waits for the word to end on another.
        let config = try scratch.config(extra: """
            jobs:
              - {name: holder, schedule: "@reboot", lock: appdb, command: [/bin/sh, -c, "echo held > \(ready); read x < \(release)"]}
              - {name: late, every: 1s, lock: appdb, on_lock: skip, command: [/bin/sh, -c, "echo ran >> \(scratch.path)/late.out"]}
              - {name: patient, every: 1s, lock: appdb, command: [/bin/sh, -c, "echo ran >> \(scratch.path)/patient.out"]}
            """)
        let holding = {
            await onNewThread {
                // Blocks until the holder opens the fifo, then reads to its close.
                let descriptor = open(ready, O_RDONLY | O_CLOEXEC)
                defer { close(descriptor) }
                var text = [UInt8](), buffer = [UInt8](repeating: 0, count: 64)
                while case let count = read(descriptor, &buffer, buffer.count), count > 0 { text += buffer.prefix(count) }
                return String(decoding: text, as: UTF8.self)
            }
        }
        let letGo = {
            await onNewThread {
                let descriptor = open(release, O_WRONLY | O_CLOEXEC)
                _ = write(descriptor, "go\n", 3)
                close(descriptor)
            }
        }
        // `opsctl jobs run holder` while opsd is down: the run, in opsctl's process, holds the lock's file.
        let out = open("\(scratch.path)/holder.out", O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o600)
        let null = open("/dev/null", O_RDONLY | O_CLOEXEC)
        defer { close(out); close(null) }
        let holdInOpsctl = {
            try spawn("\(binDirectory)/opsctl", ["jobs", "run", "holder", "--config", config], environment: ProcessInfo.processInfo.environment, stdout: out, stderr: out, stdin: null)
        }
        let exit = { (pid: Int32) in
            await onNewThread {
                var raw: Int32 = 0
                while waitpid(pid, &raw, 0) < 0 && errno == EINTR {}
                return raw
            }
        }
        let waitedFor = "opsd stopped while the run waited for lock appdb"

        let daemon = try await Daemon(config: config, scratch: scratch)
        #expect(await holding() == "held\n")
        let skipped = try await daemon.logStream.first { $0.message.hasPrefix("skipped:") && $0.fields["job"] == "late" }
        #expect(skipped.message == "skipped: lock appdb is held by job holder")
        _ = try await daemon.logStream.first { $0.message == "waiting for lock appdb, held by job holder" && $0.fields["job"] == "patient" }
        let manual = try await run("opsctl", ["jobs", "run", "late", "--json", "--config", config])
        #expect(manual.status == 1)
        let record = try WireJSON.decoder.decode(JobRunStatus.self, from: Data(manual.stdout.utf8))
        #expect(record.result == .skipped && record.message == "lock appdb was held by job holder")
        daemon.signal(SIGTERM)
        #expect(await daemon.exitStatus() == 0)
        #expect(try await jobRuns("late", config).contains { $0.result == .skipped && $0.message == "lock appdb was held by job holder" && $0.startedAt == nil })
        // The run that waited in line never started.
        #expect(try await jobRuns("patient", config).first.map { $0.result == .interrupted && $0.message == waitedFor && $0.startedAt == nil } == true)
        let events = try await run("opsctl", ["events", "--json", "--config", config])
        #expect(events.stdout.contains("job_skipped") && events.stdout.contains("skipped its run due at"))
        #expect(events.stdout.contains(": lock appdb was held by job holder"))
        #expect(!FileManager.default.fileExists(atPath: "\(scratch.path)/late.out"))
        #expect(!FileManager.default.fileExists(atPath: "\(scratch.path)/patient.out"))

        // opsd is down: opsctl's in-process runs meet on the lock's file.
        let opsctl = try holdInOpsctl()
        #expect(await holding() == "held\n")
        let other = try await run("opsctl", ["jobs", "run", "late", "--config", config])
        #expect(other.status == 1)
        #expect(other.stdout.hasPrefix("late: skipped: lock appdb was held by job holder (pid \(opsctl))"), "\(other.stdout)")

        // A starting opsd's holder waits for the opsctl run, and runs once it is over.
        let second = try await Daemon(config: config, scratch: scratch)
        let waiting = try await second.logStream.first { $0.message.hasPrefix("waiting for lock appdb") && $0.fields["job"] == "holder" }
        #expect(waiting.message == "waiting for lock appdb, held by job holder (pid \(opsctl))")
        await letGo()
        #expect(await exit(opsctl) == 0)
        #expect(await holding() == "held\n")
        await letGo()
        _ = try await second.logStream.first { $0.message.hasPrefix("run succeeded") && $0.fields["job"] == "holder" }
        second.signal(SIGTERM)
        #expect(await second.exitStatus() == 0)

        // An opsd that stops while its run waits for another process's lock stops at once.
        let again = try holdInOpsctl()
        #expect(await holding() == "held\n")
        let third = try await Daemon(config: config, scratch: scratch)
        _ = try await third.logStream.first { $0.message.hasPrefix("waiting for lock appdb") && $0.fields["job"] == "holder" }
        third.signal(SIGTERM)
        #expect(await third.exitStatus() == 0)
        #expect(try await jobRuns("holder", config).first.map { $0.result == .interrupted && $0.message == waitedFor } == true)
        await letGo()
        #expect(await exit(again) == 0)
    }

    @Test("stop: a job that takes 7 s after SIGINT finishes its step within a 10 s stop timeout when opsd stops; one that ignores it is killed after its own")
    func stopGrace() async throws {
        let scratch = try Scratch()
        let marker = "\(scratch.path)/page.done"
        let config = try scratch.config(extra: """
            jobs:
              - name: scrape
                schedule: "@reboot"
                stop: {signal: INT, timeout: 10s}
                command: [/bin/sh, -c, "trap 'sleep 7; echo done > \(marker); exit 0' INT; echo started; sleep 1000 & wait"]
              - name: stubborn
                schedule: "@reboot"
                stop: {signal: SIGINT, timeout: 1s}
                command: [/bin/sh, -c, "trap '' INT; echo started; sleep 1000"]
            """)
        let daemon = try await Daemon(config: config, scratch: scratch)
        for job in ["scrape", "stubborn"] {
            _ = try await daemon.logStream.first { $0.message == "started" && $0.fields["job"] == job }
        }
        daemon.signal(SIGTERM)
        #expect(await daemon.exitStatus() == 0)
        #expect(lines(marker) == ["done"])
        let scrape = try #require(try await jobRuns("scrape", config).first)
        #expect(scrape.result == .interrupted)
        #expect(scrape.message == "opsd stopped during the run; /bin/sh ended with exit 0 after SIGINT, within its stop timeout of 10s")
        let stubborn = try #require(try await jobRuns("stubborn", config).first)
        #expect(stubborn.result == .interrupted)
        #expect(stubborn.message == "opsd stopped during the run; /bin/sh did not end within its stop timeout of 1s after SIGINT and was killed")
    }
}
