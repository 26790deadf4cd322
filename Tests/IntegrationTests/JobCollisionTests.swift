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
}
