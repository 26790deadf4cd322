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
}
