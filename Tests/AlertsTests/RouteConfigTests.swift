@testable import Alerts
import Events
import Foundation
import OpsConfig
import Testing

private let names = """
    workers:
      - {name: web, command: [/bin/true]}
    checks:
      - {name: disk-root, disk: /}
      - {name: api, memory: {}}
    jobs:
      - {name: report, every: 1h, command: [/bin/true]}

    """

private func parse(_ alerts: String) -> ConfigLoader.Result {
    ConfigLoader.parse(yaml: names + alerts, baseDirectory: "/etc/ops")
}

@Suite("alert routes in the configuration")
struct RouteConfigTests {
    @Test("every key of a route is read: name, format, kinds (old names too), severity, globs, send_resolved, repeat, limit")
    func keys() throws {
        let result = parse("""
            alerts:
              - name: chat
                webhook: https://hooks.slack.com/services/T0/B0/XYZ
                format: slack
                on: [crit, recover, worker_fatal, job_failed]
                severity: warning
                checks: [disk-*, api]
                workers: web
                jobs: ["*"]
                send_resolved: false
                repeat: 4h
                limit: 5 in 1h
              - exec: [/usr/local/bin/page]
            """)
        #expect(result.diagnostics.isEmpty, "\(result.diagnostics)")
        let chat = try #require(result.configuration.alerts.first)
        #expect(chat.name == "chat")
        #expect(chat.format == .slack)
        #expect(chat.on == [.checkCrit, .checkRecover, .workerFatal, .jobFailed])
        #expect(chat.severity == .warning)
        #expect(chat.subjects.checks?.map(\.text) == ["disk-*", "api"])
        #expect(chat.subjects.workers?.map(\.text) == ["web"])
        #expect(chat.subjects.jobs?.map(\.text) == ["*"])
        #expect(chat.sendResolved == false)
        #expect(chat.repeatInterval == .seconds(4 * 3600))
        #expect(chat.limit == BurstLimit(count: 5, window: .seconds(3600)))
        let hook = try #require(result.configuration.alerts.last)
        #expect(hook.name == "alerts[1]")
        #expect(hook.target == .exec(["/usr/local/bin/page"]))
        #expect(hook.on == nil && hook.severity == nil && hook.sendResolved && hook.repeatInterval == nil)
        #expect(hook.subjects.takesEverything)
    }

    @Test("an unknown kind, a bad glob, an unknown name, an unknown format, format on exec: key path, line and what to write")
    func errors() {
        let result = parse("""
            alerts:
              - webhook: https://example.com/hook
                on: [job_fail, crit]
                format: teams
                checks: ["disk-[", "dsk-root"]
                workers: ["w b"]
                severity: high
                repeat: 0s
              - exec: [/bin/true]
                format: slack
              - {name: twice, exec: [/bin/true]}
              - {name: twice, exec: [/bin/true]}
            """)
        let messages = result.diagnostics.map(\.description)
        let expected = [
            #"alerts[0].on[0]: "job_fail" is not an event kind; did you mean "job_failed"? write one of: check_warn, check_crit, "#,
            #"alerts[0].format: "teams" is not one of: json, slack, discord (line 11)"#,
            #"alerts[0].checks[0]: "disk-[" opens a "[" that is never closed; write a name, or a pattern with * (any characters), ? (one character) or [abc] (one of them), e.g. disk-* (line 12)"#,
            #"alerts[0].checks[1]: "dsk-root" is not a check under checks:; did you mean "disk-root"? name one of: disk-root, api, or use a pattern such as "dsk-root*" (line 12)"#,
            #"alerts[0].workers[0]: "w b" contains a space, which no name has; "#,
            #"alerts[0].severity: "high" is not one of: ok, info, warning, critical (line 14)"#,
            #"alerts[0].repeat: "0s" is not a duration; write it as e.g. 500ms, 30s, 10m, 2h or 1h30m (line 15)"#,
            #"alerts[1].format: applies to webhooks only; an exec hook gets the event as JSON on stdin and as OPS_* variables, so remove format: (line 17)"#,
            #"alerts[3].name: "twice" is already the name of alerts[2]; names must be unique"#,
        ]
        for prefix in expected {
            #expect(messages.contains { $0.hasPrefix(prefix) }, "missing \(prefix) in \(messages)")
        }
        #expect(messages.first { $0.hasPrefix("alerts[0].on[0]") }?.contains("(or warn, crit, unknown, recover, the older names of the check events) (line 10)") == true)
        #expect(messages.count == expected.count, "\(messages)")
    }

    @Test("the alert shapes of before events still load and mean what they meant: webhook with on: [crit, recover] and limit, exec without on:")
    func oldShapes() async throws {
        let result = parse("""
            alerts:
              - webhook: http://127.0.0.1:9/hook
                on: [crit, recover]
                limit: 20 in 10m
              - exec: [/bin/true]
            """)
        #expect(result.diagnostics.isEmpty, "\(result.diagnostics)")
        let (old, plain) = (result.configuration.alerts[0], result.configuration.alerts[1])
        #expect(old.on == [.checkCrit, .checkRecover])
        let disk = Subject(.check, "disk-root")
        // on: [crit, recover] takes exactly those, as before: a recovery from WARNING too.
        #expect(old.selects(event(.checkCrit, disk)))
        #expect(old.selects(event(.checkRecover, disk)))
        #expect(!old.selects(event(.checkWarn, disk)))
        #expect(!old.selects(event(.workerFatal, Subject(.worker, "web"))))
        // A route without on: hears of every check that goes bad (the recovery comes as the
        // resolved message), and now of workers, jobs and backups as well; not of info events.
        for kind in [EventKind.checkWarn, .checkCrit, .checkUnknown, .workerFatal, .jobFailed, .backupLocal] {
            #expect(plain.selects(event(kind, Subject(kind.subjectKind, "x"))), "\(kind)")
        }
        #expect(!plain.selects(event(.opsdStarted, .daemon)))
    }

    @Test("patterns match as the shell does, and subjects go to their list (backups to jobs:, opsd to none)")
    func patterns() {
        #expect(glob("disk-*").matches("disk-root"))
        #expect(!glob("disk-*").matches("api"))
        #expect(glob("web?").matches("web2"))
        #expect(glob("[ab]-queue").matches("b-queue"))
        #expect(glob("[!ab]-queue").matches("c-queue"))
        let selection = SubjectSelection(checks: [glob("disk-*")], jobs: [glob("nightly")])
        #expect(selection.takes(Subject(.check, "disk-root")))
        #expect(!selection.takes(Subject(.worker, "disk-root")))
        #expect(selection.takes(Subject(.backup, "nightly")))
        #expect(!selection.takes(.daemon))
        #expect(SubjectSelection().takes(.daemon))
    }
}
