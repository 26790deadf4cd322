import Foundation
import OpsAPI
import Testing
import TestSupport

@Suite("opsd routes worker events to alert routes")
struct AlertRouteTests {
    @Test("a worker opsd gives up on reaches the slack route that names it, not the route of another worker, and /metrics counts it; after a reload the new route gets the next one")
    func workerFatal() async throws {
        let scratch = try Scratch()
        let record = "\(scratch.path)/received.jsonl"
        let receiverLog = "\(scratch.path)/receiver.log"
        let output = open(receiverLog, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        let null = open("/dev/null", O_RDONLY | O_CLOEXEC)
        let receiver = try spawn(
            "/usr/bin/python3", ["-u", "\(repositoryRoot)/Tests/AlertsTests/Fixtures/receiver.py", "--record", record],
            environment: ProcessInfo.processInfo.environment, stdout: output, stderr: output, stdin: null, deathSignal: SIGKILL
        )
        close(output)
        close(null)
        defer {
            kill(receiver, SIGKILL)
            var status: Int32 = 0
            waitpid(receiver, &status, 0)
        }
        let port = try await poll("the receiver prints its port") {
            ((try? String(contentsOfFile: receiverLog, encoding: .utf8)) ?? "").split(separator: "\n").first { $0.hasPrefix("PORT ") }.map { String($0.dropFirst(5)) }
        }
        func received(_ path: String) -> [[String: Any]] {
            ((try? String(contentsOfFile: record, encoding: .utf8)) ?? "").split(separator: "\n").compactMap {
                try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
            }.filter { $0["path"] as? String == path }.compactMap { $0["body"] as? [String: Any] }
        }
        let workers = """
            workers:
              - {name: bad, command: [/bin/sh, -c, "exit 3"], restart: {backoff: 10ms..20ms, burst: 2 in 60s}}
              - {name: good, command: [/bin/sleep, "600"]}
            """
        let listen = try freePort()
        let config = try scratch.config(extra: "  listen: 127.0.0.1:\(listen)\n" + workers + """

            alerts:
              - {name: chat, webhook: "http://127.0.0.1:\(port)/chat/T0-SECRET", format: slack, on: [worker_fatal], workers: [bad]}
              - {name: other, webhook: "http://127.0.0.1:\(port)/other", workers: [good]}
            """)
        let daemon = try await Daemon(config: config, scratch: scratch)
        let chat = try await poll("the fatal worker's alert arrived") { () -> [[String: Any]]? in
            let got = received("/chat/T0-SECRET")
            return got.isEmpty ? nil : got
        }
        let text = try #require(chat.first?["text"] as? String)
        #expect(chat.count == 1 && chat[0].keys.sorted() == ["text"])
        #expect(text.hasPrefix("[CRITICAL] ") && text.contains(": worker bad ") && text.hasSuffix(" (worker_fatal)"), "\(text)")

        // /metrics counts the delivery under the route's name.
        let metrics = try await poll("the delivery is counted on /metrics") { () -> String? in
            let scrape = try await run("/usr/bin/curl", ["-sf", "http://127.0.0.1:\(listen)/metrics"])
            return scrape.stdout.contains("opsd_alert_deliveries_total{route=\"chat\",result=\"delivered\"} 1") ? scrape.stdout : nil
        }
        #expect(metrics.contains("opsd_alert_deliveries_total{route=\"other\",result=\"dropped\"} 0"))

        // A reload swaps the routes: the next time the worker goes fatal, the new route hears it.
        _ = try scratch.config(extra: "  listen: 127.0.0.1:\(listen)\n" + workers + """

            alerts:
              - {name: pager, webhook: "http://127.0.0.1:\(port)/pager", on: [worker_fatal]}
            """)
        let reload = try await run("opsctl", ["--config", config, "reload"])
        #expect(reload.status == 0, "\(reload.stdout)\(reload.stderr)")
        let start = try await run("opsctl", ["--config", config, "workers", "start", "bad"])
        // The worker is started, and fails again at once: opsctl says so (issue 17).
        #expect(start.status == 1, "\(start.stdout)\(start.stderr)")
        let pager = try await poll("the new route got the second fatal") { () -> [[String: Any]]? in
            let got = received("/pager")
            return got.isEmpty ? nil : got
        }
        #expect(pager.first?["event"] as? String == "worker_fatal")
        #expect(pager.first?["version"] as? Int == 1)
        #expect(received("/chat/T0-SECRET").count == 1)
        daemon.signal(SIGTERM)
        #expect(await daemon.exitStatus() == 0)
        // The good worker never failed (opsd stopping it is no failure), and the secret path stayed out of the log.
        #expect(received("/other").isEmpty)
        #expect(!daemon.log.contains("T0-SECRET"))
    }

    @Test("alerts a route drops (its rate limit reached) show in opsctl status and --json, by route")
    func dropsInStatus() async throws {
        let scratch = try Scratch()
        let hook = "\(scratch.path)/hook.log"
        // Three crashes that opsd restarts (worker_exited, warning), then the one that makes the
        // worker fatal (critical): four alerts for a route that lets one through an hour.
        let config = try scratch.config(extra: """
            workers:
              - {name: bad, command: [/bin/sh, -c, "exit 3"], restart: {backoff: 10ms..20ms, burst: 4 in 60s}}
            alerts:
              - {name: pager, exec: [/bin/sh, -c, "echo $OPS_EVENT >> \(hook)"], limit: 1 in 1h}
            """)
        let daemon = try await Daemon(config: config, scratch: scratch)
        let report = try await poll("the route's drops reach /v1/status") { () -> StatusReport? in
            let result = try await run("opsctl", ["--config", config, "status", "--json"])
            let report = try WireJSON.decoder.decode(StatusReport.self, from: Data(result.stdout.utf8))
            return report.alertDrops?["pager"] == 3 ? report : nil
        }
        #expect(report.workers.first?.state == .fatal)
        let table = try await run("opsctl", ["--config", config, "status"])
        #expect(table.stdout.contains(
            "Alerts dropped since opsd started (a route's queue was full or its rate limit reached): pager 3; see opsd_alert_deliveries_total in /metrics"
        ), "\(table.stdout)")
        let delivered = try await poll("the one alert let through ran its hook") { () -> [String]? in
            let lines = ((try? String(contentsOfFile: hook, encoding: .utf8)) ?? "").split(separator: "\n").map(String.init)
            return lines.isEmpty ? nil : lines
        }
        #expect(delivered == ["worker_exited"])
        daemon.signal(SIGTERM)
        #expect(await daemon.exitStatus() == 0)
    }
}
