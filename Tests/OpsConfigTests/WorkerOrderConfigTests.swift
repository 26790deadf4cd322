import OpsConfig
import Testing

@Suite("workers: after:, max_lifetime (issue 16 items 3 and 4)")
struct WorkerOrderConfigTests {
    @Test("after: names workers; after_timeout and max_lifetime are read, with a jitter of a tenth by default")
    func keys() throws {
        let result = ConfigLoader.parse(yaml: """
            workers:
              - {name: redis, command: [redis-server]}
              - {name: app, command: [/bin/true], after: [redis], after_timeout: 2m, max_lifetime: 24h, max_lifetime_jitter: 30m}
              - {name: cron, command: [/bin/true], max_lifetime: 1h}
              - {name: exact, command: [/bin/true], max_lifetime: 1h, max_lifetime_jitter: 0s}
            """, baseDirectory: "/etc/ops")
        #expect(result.diagnostics.isEmpty, "\(result.diagnostics)")
        let app = try #require(result.configuration.workers.first { $0.name == "app" })
        #expect(app.after == ["redis"])
        #expect(app.afterTimeout == .seconds(120))
        #expect(app.maxLifetime == .seconds(86400))
        #expect(app.maxLifetimeJitter == .seconds(1800))
        let cron = try #require(result.configuration.workers.first { $0.name == "cron" })
        #expect(cron.afterTimeout == .seconds(60))
        #expect(cron.maxLifetimeJitter == nil)
        #expect(result.configuration.workers.first { $0.name == "exact" }?.maxLifetimeJitter == .zero)
    }

    @Test("an unknown name, a worker after itself and a cycle are errors with key path and line")
    func refused() {
        #expect(problems("""
            workers:
              - {name: redis, command: [redis-server]}
              - {name: app, command: [/bin/true], after: [rediss]}
            """) == [#"workers[1].after: "rediss" is not a worker under workers: (declared: redis, app); did you mean "redis"? (line 3)"#])
        #expect(problems("""
            workers:
              - {name: app, command: [/bin/true], after: [app]}
            """) == [#"workers[0].after: a worker cannot start after itself; remove "app" (line 2)"#])
        #expect(problems("""
            workers:
              - {name: a, command: [/bin/true], after: [c]}
              - {name: b, command: [/bin/true], after: [a]}
              - {name: c, command: [/bin/true],
                 after: [b]}
            """) == [#"workers[0].after: a → c → b → a is a cycle: none of them could ever start; remove one of these after: entries (line 2)"#])
        #expect(problems("""
            workers:
              - {name: app, command: [/bin/true], max_lifetime_jitter: 5m, max_lifetime: 500ms}
            """) == [
                #"workers[0].max_lifetime: "500ms" is shorter than the shortest interval, 1s; run it at most that often (line 2)"#,
                #"workers[0].max_lifetime_jitter: needs max_lifetime:, the age it is added to (line 2)"#,
            ])
    }
}
