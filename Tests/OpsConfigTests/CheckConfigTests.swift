import Testing
@testable import OpsConfig

@Suite("Thresholds in the Nagios range syntax")
struct ThresholdTests {
    @Test("the forms of the plugin guidelines parse and alert where the guidelines say")
    func nagiosRanges() throws {
        // monitoring-plugins.org guidelines, "Threshold and ranges": value → alerts?
        let table: [(String, [(Double, Bool)])] = [
            ("10", [(-1, true), (0, false), (10, false), (10.5, true)]),
            ("10:", [(9.9, true), (10, false), (1e9, false)]),
            ("~:10", [(-1e9, false), (10, false), (11, true)]),
            ("10:20", [(9, true), (10, false), (20, false), (21, true)]),
            ("@10:20", [(9, false), (10, true), (20, true), (21, false)]),
        ]
        for (text, cases) in table {
            let threshold = try #require(Threshold.parse(text), "\(text) should parse")
            for (value, alerts) in cases {
                #expect(threshold.alerts(on: value) == alerts, "\(text) on \(value)")
            }
            #expect(threshold.description == text, "round trip of \(text)")
        }
    }

    @Test("percentages are ranges too, limited to 0–100")
    func percentages() {
        #expect(Threshold.parse("80%") == .percent(80))
        #expect(Threshold.parse("80 %") == .percent(80))
        #expect(Threshold.parse("@~:5%") == Threshold(start: -.infinity, end: 5, alertsInside: true, isPercent: true))
        #expect(Threshold.parse("101%") == nil)
        #expect(Threshold.parse("10:200%") == nil)
        #expect(Threshold.percent(80).alerts(on: 80) == false)
        #expect(Threshold.percent(80).alerts(on: 80.1))
    }

    @Test("malformed ranges are refused", arguments: ["", "@", "20:10", "a:b", "1:2:3", "~", "%", "10::"])
    func malformed(text: String) {
        #expect(Threshold.parse(text) == nil)
    }
}

@Suite("Check configuration")
struct CheckConfigTests {
    private func load(_ yaml: String) -> (Configuration, [String]) {
        let result = ConfigLoader.parse(yaml: yaml, baseDirectory: "/etc/ops")
        return (result.configuration, result.diagnostics.map(\.description))
    }

    @Test("every option of an http check is read")
    func httpOptions() throws {
        let (config, problems) = load("""
            checks:
              - name: api
                http:
                  url: https://127.0.0.1:8443/health
                  method: head
                  headers: {Authorization: {file: token}, X-Env: {env: API_KEY}, Accept: application/json}
                  redirects: 0
                  ca_file: ca.pem
                  certificate: {warn_days: 14, crit_days: 7}
                expect: {status: [200, 204], body_contains: ok, body_matches: "up|ok", json: {path: checks.db, equals: "true"}}
                warn: 300
                crit: 1000
                fail_after: 3
                recover_after: 2
            """)
        #expect(problems == [])
        let check = try #require(config.checks.first)
        #expect(check.failAfter == 3 && check.recoverAfter == 2)
        guard case .http(let http) = check.kind else { Issue.record("not http"); return }
        #expect(http.method == "HEAD")
        #expect(http.expectStatus == [200, 204])
        #expect(http.bodyContains == "ok" && http.bodyMatches == "up|ok")
        #expect(http.jsonField == JSONFieldExpectation(path: "checks.db", equals: "true"))
        #expect(http.maxRedirects == 0)
        #expect(http.caFile == "/etc/ops/ca.pem")
        #expect(http.certificateWarnDays == 14 && http.certificateCritDays == 7)
        #expect(Set(http.headers.map(\.name)) == ["Authorization", "X-Env", "Accept"])
        #expect(http.headers.contains(HeaderSpec(name: "Authorization", value: .file("/etc/ops/token"))))
        #expect(http.headers.contains(HeaderSpec(name: "X-Env", value: .environment("API_KEY"))))
    }

    @Test("a credential written into the config is refused, and never echoed")
    func credentials() {
        let (_, problems) = load("""
            checks:
              - {name: a, http: {url: "http://127.0.0.1/", headers: {Authorization: "Bearer s3cret"}}}
              - {name: b, http: "https://user:hunter2@example.com/"}
            alerts:
              - {webhook: "https://u:pw@hooks.example.com/x"}
            """)
        #expect(problems == [
            "checks[0].http.headers.Authorization: holds a credential; keep it out of the config and write {file: PATH} or {env: VARIABLE} (line 2)",
            "checks[1].http: contains a password; send credentials in a header whose value comes from a file (headers: {Authorization: {file: PATH}}) (line 3)",
            "alerts[0].webhook: contains a password; webhook URLs carry their secret in the path, not as user:password (line 5)",
        ])
        #expect(!problems.joined().contains("s3cret") && !problems.joined().contains("hunter2"))
    }

    @Test("a percentage on a check that counts items is an error that says what it counts")
    func percentOnCount() {
        let (_, problems) = load("checks: [{name: q, queue: {spool: /var/spool/app}, warn: 80%}]")
        #expect(problems == ["checks[0].warn: is a percentage, but a queue check measures a count of items; write a plain number or range (line 1)"])
    }

    @Test("sqlite checks take a path or a path with a query; spool queues take age limits")
    func sqliteAndSpool() throws {
        let (config, problems) = load("""
            checks:
              - {name: a, sqlite: app.db}
              - {name: b, sqlite: {path: /srv/app.db, query: "SELECT count(*) FROM jobs"}, warn: 100}
              - {name: c, queue: {spool: spool, warn_age: 10m, crit_age: 1h}, crit: "~:1000"}
              - {name: d, queue: {redis: "redis://127.0.0.1:6379/0", key: celery, warn_age: 1m}}
            """)
        #expect(problems == ["checks[3].queue.warn_age: only applies to spool queues, whose files carry their age (line 5)"])
        #expect(config.checks[0].kind == .sqlite(SQLiteCheckSpec(path: "/etc/ops/app.db")))
        #expect(config.checks[1].kind == .sqlite(SQLiteCheckSpec(path: "/srv/app.db", query: "SELECT count(*) FROM jobs")))
        #expect(config.checks[2].kind == .queue(.spool(directory: "/etc/ops/spool", warnAge: .seconds(600), critAge: .seconds(3600))))
        #expect(config.checks[2].crit == Threshold(start: -.infinity, end: 1000))
    }

    @Test("a restart action must name a declared worker")
    func restartAction() throws {
        let (config, problems) = load("""
            workers: [{name: app, command: [/bin/true]}]
            checks:
              - {name: a, http: "http://127.0.0.1:8080/", restart: {worker: app, after: 5}}
              - {name: b, http: "http://127.0.0.1:8080/", restart: {worker: ap}}
            """)
        #expect(config.checks[0].restart == CheckRestart(worker: "app", after: 5))
        #expect(problems == [#"checks[1].restart.worker: "ap" is not a worker under workers: (declared: app); name one of them (line 4)"#])
    }

    @Test("worker: names a declared worker; start_period is a duration or 0s; a watched worker brings a minute's start period")
    func startKeys() throws {
        let (config, problems) = load("""
            workers: [{name: app, command: [/bin/true]}]
            checks:
              - {name: a, http: "http://127.0.0.1:8080/", worker: app}
              - {name: b, http: "http://127.0.0.1:8080/", restart: {worker: app}, start_period: 0s}
              - {name: c, memory: {}, start_period: 2m}
              - {name: d, memory: {}}
              - {name: e, memory: {}, worker: ap, start_period: soon}
            """)
        #expect(config.checks[0].watchedWorker == "app" && config.checks[0].effectiveStartPeriod == .seconds(60))
        #expect(config.checks[1].watchedWorker == "app" && config.checks[1].effectiveStartPeriod == .zero)
        #expect(config.checks[2].watchedWorker == nil && config.checks[2].effectiveStartPeriod == .seconds(120))
        #expect(config.checks[3].effectiveStartPeriod == .zero)
        #expect(problems == [
            #"checks[4].worker: "ap" is not a worker under workers: (declared: app); name one of them (line 7)"#,
            #"checks[4].start_period: "soon" is not a duration; write it as e.g. 500ms, 30s, 10m, 2h or 1h30m (line 7)"#,
        ])
    }

    @Test("alert routes take a rate limit")
    func alertLimit() {
        let (config, problems) = load("alerts: [{webhook: \"http://127.0.0.1:9/hook\", limit: 3 in 1m}, {exec: [/bin/true], limit: often}]")
        #expect(config.alerts.first?.limit == BurstLimit(count: 3, window: .seconds(60)))
        #expect(problems == [#"alerts[1].limit: "often" is not a burst limit; write e.g. "5 in 60s" (at most 5 starts within 60 seconds) (line 1)"#])
    }
}
