import Testing
@testable import OpsConfig
import Scheduling

/// Issue 13 item 5: what the file says arrives typed, decided once when it is read.
@Suite("typed end to end")
struct TypedConfigTests {
    @Test("backup.schedule is a trigger, read in backup.timezone when the file is read")
    func backupScheduleIsATrigger() throws {
        let loaded = ConfigLoader.parse(yaml: """
            backup:
              repository: /srv/backup.git
              schedule: "15 3 * * *"
              timezone: America/New_York
            """, baseDirectory: "/etc/ops")
        #expect(loaded.diagnostics.isEmpty)
        let zone = try #require(Zone.named("America/New_York"))
        #expect(loaded.configuration.backup?.schedule == .calendar(CalendarTrigger(try CronExpression("15 3 * * *"), zone: zone)))

        let utc = ConfigLoader.parse(yaml: "backup: {repository: /r, schedule: \"@daily\"}", baseDirectory: "/etc/ops")
        #expect(utc.configuration.backup?.schedule == .calendar(CalendarTrigger(try CronExpression("@daily"), zone: .utc)))
        #expect(ConfigLoader.parse(yaml: "backup: {repository: /r}", baseDirectory: "/etc/ops").configuration.backup?.schedule == nil)
    }

    @Test("a backup.schedule the scheduler cannot use is a problem at its key and line, not a backup that silently never runs")
    func badBackupSchedule() {
        #expect(problems("backup:\n  repository: /r\n  schedule: \"2h\"\n") == [#"backup.schedule: "2h" is an interval; write it as every: 2h (line 3)"#])
        #expect(problems("backup:\n  repository: /r\n  schedule: \"* * *\"\n") == [
            "backup.schedule: a cron expression has 5 fields (minute hour day-of-month month day-of-week), this has 3; check it with `opsctl schedule preview '* * *'` (line 3)",
        ])
    }

    @Test("a backup check is made whole as it is read, wherever backup: and daemon: stand in the file")
    func backupCheckTypedDirectly() {
        let loaded = ConfigLoader.parse(yaml: """
            checks:
              - {name: fresh, backup: {max_age: 2h}}
            backup: {repository: /srv/backup.git}
            daemon: {state_dir: /srv/state}
            """, baseDirectory: "/etc/ops")
        #expect(loaded.diagnostics.isEmpty)
        #expect(loaded.configuration.checks.map(\.kind) == [.backup(BackupCheckSpec(maxAge: .seconds(7200), stateDirectory: "/srv/state", remoteConfigured: false))])
    }

    @Test("a backup check without a backup: section is a problem at its own entry and line, even after a dropped entry")
    func backupCheckWithoutSection() {
        // The first entry has a problem of its own and is dropped; the backup check is the
        // second entry of the file (checks[1], line 4), whatever survives before it.
        #expect(problems("""
            checks:
              - name: broken
                http: ftp://example.org/
              - name: fresh
                backup: {}
            """) == [
            #"checks[0].http: "ftp://example.org/" is not an http:// or https:// URL (line 3)"#,
            "checks[1].backup: checks the backups of the backup: section, but there is none; add a backup: section (line 5)",
        ])
        // A backup: section with problems of its own is not reported missing as well.
        #expect(problems("checks: [{name: fresh, backup: {}}]\nbackup: {remote: {url: /r}}\n") == ["backup.repository: is required but missing (line 2)"])
    }

    @Test("a backup job without a backup: section is a problem at its own entry and line, even after a dropped entry")
    func backupJobWithoutSection() {
        #expect(problems("""
            jobs:
              - name: broken
                every: 1h
              - name: nightly
                schedule: "@daily"
                backup: {}
            """) == [
            "jobs[0]: does nothing; add one of: command, sqlite, prune, backup (line 2)",
            "jobs[1].backup: takes a backup as the backup: section describes, but there is none; add a backup: section (line 6)",
        ])
        #expect(problems("jobs: [{name: b, every: 1h, backup: {}}]\nbackup: {remote: {url: /r}}\n") == ["backup.repository: is required but missing (line 2)"])
    }

    @Test("every kind has one descriptor, listed once, found by its key, and read by the parser")
    func descriptors() throws {
        let kinds: [CheckKind] = [
            .disk(paths: ["/"]), .memory, .sqlite(SQLiteCheckSpec(path: "/a.db")), .queue(.spool(directory: "/q", warnAge: nil, critAge: nil)),
            .http(HTTPCheckSpec(url: "http://127.0.0.1/")), .command(["/bin/true"]),
            .backup(BackupCheckSpec(maxAge: .seconds(60), stateDirectory: "/s", remoteConfigured: false)),
        ]
        #expect(kinds.map(\.key) == CheckKindDescriptor.all.map(\.key))
        #expect(Set(CheckKindDescriptor.all.map(\.key)).count == CheckKindDescriptor.all.count)
        for descriptor in CheckKindDescriptor.all {
            #expect(CheckKindDescriptor.named(descriptor.key)?.key == descriptor.key)
        }
        #expect(CheckKindDescriptor.named("nope") == nil)
        #expect(CheckKindDescriptor.all.filter(\.measuresPercent).map(\.key) == ["disk", "memory"])
        #expect(CheckKindDescriptor.all.map(\.unit) == ["percent", "percent", "ms", "items", "ms", nil, "h"])
        #expect(ConfigParser.checkKeys == ["name", "disk", "memory", "sqlite", "queue", "http", "command", "backup", "warn", "crit", "every", "timeout", "expect", "cwd", "fail_after", "recover_after", "restart", "worker", "start_period"])

        let loaded = ConfigLoader.parse(yaml: """
            checks:
              - {name: a, disk: /}
              - {name: b, memory: {}}
              - {name: c, sqlite: app.db}
              - {name: d, queue: {spool: /var/spool/app}}
              - {name: e, http: "http://127.0.0.1/"}
              - {name: f, command: [/bin/true]}
              - {name: g, backup: {}}
            backup: {repository: /srv/backup.git}
            """, baseDirectory: "/etc/ops")
        #expect(loaded.diagnostics.isEmpty)
        #expect(loaded.configuration.checks.map(\.kind.key) == CheckKindDescriptor.all.map(\.key))
    }

    @Test("the unit words come from the kind's descriptor, and a companion key belongs to its kind")
    func descriptorWords() {
        #expect(problems("checks: [{name: b, backup: {}, warn: 80%}]\nbackup: {repository: /r}\n") == [
            "checks[0].warn: is a percentage, but a backup check measures the age of the last safe backup in hours; write a plain number or range (line 1)",
        ])
        #expect(problems("checks: [{name: d, disk: /, expect: {status: 200}}]") == ["checks[0].expect: only applies to http checks (line 1)"])
    }

    @Test("the sections a reload compares are exactly the ones the file may have, and each one's change is seen")
    func sections() throws {
        // Each section is a key the parser takes (a key it did not would be "unknown").
        for section in Configuration.Section.allCases {
            #expect(!problems("\(section.rawValue): null\nnone: 1\n").contains { $0.hasPrefix(section.rawValue) }, "\(section)")
        }
        let base = Configuration()
        var changed: [Configuration.Section: Configuration] = [:]
        for section in Configuration.Section.allCases {
            var other = base
            switch section {
            case .daemon: other.daemon.listen = ListenAddress(host: "127.0.0.1", port: 9110)
            case .workers: other.workers = [WorkerSpec(name: "w", command: ["/bin/true"])]
            case .checks: other.checks = [CheckSpec(name: "c", kind: .memory)]
            case .jobs: other.jobs = [JobSpec(name: "j", trigger: .interval(.seconds(60)), action: .prune(keep: .seconds(60)))]
            case .backup: other.backup = BackupSpec(repository: "/r")
            case .alerts: other.alerts = [AlertSpec(target: .exec(["/bin/true"]))]
            }
            changed[section] = other
        }
        for (section, other) in changed {
            #expect(other.changedSections(from: base) == [section], "\(section)")
        }
        #expect(base.changedSections(from: base).isEmpty)
    }
}
