import Foundation
import Testing
@testable import OpsConfig
import Scheduling

@Suite("jobs: section")
struct JobConfigTests {
    @Test("a command job with every option decodes into typed values")
    func commandJob() throws {
        let config = ConfigLoader.parse(yaml: """
            jobs:
              - name: report
                schedule: "30 2 * * mon-fri"
                timezone: Europe/Berlin
                jitter: 5m
                catch_up: true
                misfire_grace: 1h
                timeout: 10m
                retries: 3
                retry_backoff: 30s..10m
                command: [bin/report, --daily]
                cwd: work
                environment: {MODE: nightly}
            """, baseDirectory: "/etc/ops")
        #expect(config.diagnostics.isEmpty)
        let job = try #require(config.configuration.jobs.first)
        let berlin = try #require(Zone.named("Europe/Berlin"))
        #expect(job.trigger == .calendar(CalendarTrigger(try CronExpression("30 2 * * mon-fri"), zone: berlin)))
        #expect(job.jitter == .seconds(300) && job.catchUp && job.misfireGrace == .seconds(3600) && job.timeout == .seconds(600))
        #expect(job.retries == 3 && job.retryBackoff == DurationRange(lowerBound: .seconds(30), upperBound: .seconds(600)))
        #expect(job.action == .command(CommandSpec(command: ["bin/report", "--daily"], workingDirectory: "/etc/ops/work", environment: ["MODE": "nightly"])))
    }

    @Test("maintenance, prune, backup and interval jobs")
    func otherKinds() throws {
        let config = ConfigLoader.parse(yaml: """
            jobs:
              - {name: db, schedule: "@weekly", sqlite: {databases: app.db, vacuum: full, vacuum_window: "01:00-05:00", integrity_check: true}}
              - {name: prune, every: 1d, prune: {keep: 30d}}
              - {name: nightly-backup, schedule: "0 0 * * *", backup: {}}
              - {name: warmup, schedule: "@reboot", command: [true]}
            backup: {repository: backup.git}
            """, baseDirectory: "/srv")
        #expect(config.diagnostics.isEmpty)
        let jobs = config.configuration.jobs
        try #require(jobs.count == 4)
        #expect(jobs.map(\.action.key) == ["sqlite", "prune", "backup", "command"])
        #expect(jobs[0].action == .sqlite(SQLiteMaintenanceSpec(
            databases: ["/srv/app.db"], integrityCheck: true, vacuum: .full, vacuumWindow: TimeWindow(start: 60, end: 300))))
        #expect(jobs[1].trigger == .interval(.seconds(86400)) && jobs[1].action == .prune(keep: .seconds(30 * 86400)))
        #expect(jobs[3].trigger == .startup)
    }

    @Test("mistakes name the key, say why, and point at opsctl schedule preview for cron")
    func mistakes() {
        #expect(problems("jobs: [{name: a, schedule: \"61 * * * *\", command: [x]}]") == [
            "jobs[0].schedule: the minute field has `61`; it accepts *, numbers 0-59, lists a,b, ranges a-b and steps */n; check it with `opsctl schedule preview '61 * * * *'` (line 1)",
        ])
        #expect(problems("jobs: [{name: a, command: [x]}]") == [
            #"jobs[0]: has no schedule; add schedule: "0 3 * * *" (cron), schedule: "@daily", or every: 10m (line 1)"#,
        ])
        #expect(problems("jobs: [{name: a, every: 1h, schedule: \"@daily\", command: [x]}]") == ["jobs[0]: has both schedule and every; keep one (line 1)"])
        #expect(problems("jobs: [{name: a, every: 1h}]") == ["jobs[0]: does nothing; add one of: command, sqlite, prune, backup (line 1)"])
        #expect(problems("jobs: [{name: a, every: 1h, command: [x], prune: {keep: 1d}}]") == ["jobs[0]: has command and prune; a job does one thing (line 1)"])
        #expect(problems("jobs: [{name: a, schedule: \"0 3 * * *\", timezone: Mars/Base, command: [x]}]") == [
            #"jobs[0].timezone: "Mars/Base" is not a time zone in /usr/share/zoneinfo; use an IANA name such as Europe/Berlin or UTC (line 1)"#,
        ])
        #expect(problems("jobs: [{name: a, schedule: \"10m\", command: [x]}]") == [#"jobs[0].schedule: "10m" is an interval; write it as every: 10m (line 1)"#])
        #expect(problems("jobs: [{name: a, every: 1h, sqlite: {databases: [a.db], vacuum_window: \"1-5\", vacuum: full}}]") == [
            #"jobs[0].sqlite.vacuum_window: "1-5" is not a window; write HH:MM-HH:MM, e.g. 01:00-05:00 (line 1)"#,
        ])
        #expect(problems("jobs: [{name: a, every: 1h, command: [x]}, {name: a, every: 2h, command: [y]}]") == [#"jobs[1].name: "a" is already the name of jobs[0]; names must be unique (line 1)"#])
        #expect(problems("backup: {repository: /r, schedule: \"0 0 31 2 *\"}").first?.contains("never fires") == true)
        #expect(problems("jobs: [{name: b, schedule: \"@daily\", backup: {}}]") == [
            "jobs[0].backup: takes a backup as the backup: section describes, but there is none; add a backup: section (line 1)",
        ])
    }

    @Test("time windows wrap midnight")
    func windows() throws {
        let night = try #require(TimeWindow.parse("23:00-02:00"))
        #expect(night.contains(minuteOfDay: 23 * 60 + 30) && night.contains(minuteOfDay: 60) && !night.contains(minuteOfDay: 12 * 60))
        #expect(night.description == "23:00-02:00")
    }
}
