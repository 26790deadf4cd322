import Testing
@testable import OpsConfig

/// The keys of issue 16 item 5 in `jobs:`: `run_at_start`, `lock`, `on_lock`, `stop`.
@Suite("jobs: run_at_start, lock, stop")
struct JobCollisionConfigTests {
    @Test("run_at_start is read for interval and cron jobs and refused for @reboot")
    func runAtStart() throws {
        let config = ConfigLoader.parse(yaml: """
            jobs:
              - {name: a, every: 10m, run_at_start: true, command: [x]}
              - {name: b, schedule: "@daily", command: [x]}
            """, baseDirectory: "/srv")
        #expect(config.diagnostics.isEmpty)
        #expect(config.configuration.jobs.map(\.runAtStart) == [true, false])
        #expect(problems("jobs: [{name: a, schedule: \"@reboot\", run_at_start: true, command: [x]}]") == [
            "jobs[0].run_at_start: has no meaning for @reboot, which runs at every start anyway; remove it (line 1)",
        ])
        #expect(problems("jobs: [{name: a, every: 1h, run_at_start: sometimes, command: [x]}]").first?.hasPrefix("jobs[0].run_at_start:") == true)
    }

    @Test("lock names a lock by the rules of names; on_lock is wait or skip, and needs a lock")
    func lock() throws {
        let config = ConfigLoader.parse(yaml: """
            jobs:
              - {name: a, every: 10m, lock: app.db, command: [x]}
              - {name: b, schedule: "@daily", lock: app.db, on_lock: skip, command: [x]}
              - {name: c, every: 1h, command: [x]}
            """, baseDirectory: "/srv")
        #expect(config.diagnostics.isEmpty)
        #expect(config.configuration.jobs.map(\.lock) == ["app.db", "app.db", nil])
        #expect(config.configuration.jobs.map(\.onLock) == [.wait, .skip, .wait])
        #expect(problems("jobs: [{name: a, every: 1h, lock: ../state, command: [x]}]") == [
            #"jobs[0].lock: "../state" is not a valid name; use letters, digits, "_", "." and "-", starting with a letter or digit (line 1)"#,
        ])
        #expect(problems("jobs: [{name: a, every: 1h, lock: db, on_lock: queue, command: [x]}]") == [
            #"jobs[0].on_lock: "queue" is not one of: wait, skip (line 1)"#,
        ])
        #expect(problems("jobs:\n  - {name: a, every: 1h, command: [x],\n     on_lock: skip}") == [
            "jobs[0].on_lock: has no effect without lock:; add lock: NAME (shared with the jobs this one must not overlap) or remove it (line 3)",
        ])
    }

    @Test("stop: is the workers' stop, with a job's defaults (SIGTERM, 5 s), for command jobs")
    func stop() throws {
        let config = ConfigLoader.parse(yaml: """
            jobs:
              - {name: a, every: 10m, stop: {signal: INT, timeout: 2m}, command: [x]}
              - {name: b, every: 10m, stop: {signal: sigquit}, command: [x]}
              - {name: c, every: 10m, command: [x]}
            """, baseDirectory: "/srv")
        #expect(config.diagnostics.isEmpty)
        #expect(config.configuration.jobs.map(\.stop) == [
            StopPolicy(signal: .int, timeout: .seconds(120)), StopPolicy(signal: .quit, timeout: .seconds(5)), StopPolicy(signal: .term, timeout: .seconds(5)),
        ])
        #expect(problems("jobs:\n  - name: a\n    every: 1h\n    command: [x]\n    stop: {signal: STOPNOW}") == [
            #"jobs[0].stop.signal: "STOPNOW" is not a stop signal; use one of TERM, INT, QUIT, HUP, KILL, USR1, USR2 (line 5)"#,
        ])
        #expect(problems("jobs: [{name: a, every: 1h, command: [x], stop: {signal: INT, grace: 2m}}]").first?.hasPrefix("jobs[0].stop.grace:") == true)
        #expect(problems("jobs: [{name: a, every: 1h, prune: {keep: 1d}, stop: {timeout: 1m}}]") == [
            "jobs[0].stop: applies to command jobs only; remove it (line 1)",
        ])
    }
}
