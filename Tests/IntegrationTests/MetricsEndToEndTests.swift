import Foundation
import OpsAPI
import Testing
import TestSupport

@Suite("/metrics of a running opsd: workers, jobs, a backup, checks, events, opsd itself")
struct MetricsEndToEndTests {
    @Test("the full output of an opsd with 10 workers, jobs, a backup record and checks passes promtool silently, with every family")
    func fullScrape() async throws {
        let scratch = try Scratch()
        let port = try freePort()
        let database = "\(scratch.path)/app.db"
        try #require(try await run("/usr/bin/sqlite3", [database, "CREATE TABLE t (x); INSERT INTO t VALUES (1);"]).status == 0)
        let spool = "\(scratch.path)/spool"
        try FileManager.default.createDirectory(atPath: spool, withIntermediateDirectories: true)
        let workers = (1...10).map { "  - {name: w\($0), command: [/bin/sleep, \"1000\"]}" }.joined(separator: "\n")
        let config = try scratch.config(extra: """
              listen: 127.0.0.1:\(port)
            workers:
            \(workers)
              - {name: crasher, command: [/bin/sh, -c, "exit 3"], restart: {policy: always, backoff: 100ms..200ms, burst: 2 in 60s}}
            jobs:
              - {name: good, schedule: "0 3 * * *", command: [/bin/true]}
              - {name: bad, schedule: "0 3 * * *", command: [/bin/false]}
              - {name: nightly, schedule: "0 3 * * *", backup: {}}
            backup:
              repository: \(scratch.path)/backup.git
              databases: [\(database)]
            checks:
              - {name: root, disk: /, crit: "100%", every: 1s}
              - {name: memory, memory: {}, every: 1s}
              - {name: outbox, queue: {spool: \(spool)}, every: 1s}
              - {name: db, sqlite: \(database), every: 1s}
              - {name: rows, sqlite: {path: \(database), query: "SELECT count(*) FROM t"}, every: 1s}
              - {name: self, http: "http://127.0.0.1:\(port)/healthz", every: 1s}
              - {name: plugin, command: [/bin/sh, -c, "echo 'OK - fine | size=2MB;; load=0.5'"], every: 1s}
              - {name: fresh, backup: {max_age: 26h}, every: 1s}
            """)
        let daemon = try await Daemon(config: config, scratch: scratch)

        for job in ["good", "bad", "nightly"] {
            _ = try await run("opsctl", ["--config", config, "jobs", "run", job])
        }
        let metricsFile = "\(scratch.path)/metrics.txt"
        // Every check has run, the backup check after the backup, and the crasher was given up on.
        let text = try await poll("every check ran and the crasher went fatal") { () -> String? in
            guard try await run("/usr/bin/curl", ["-sf", "-o", metricsFile, "http://127.0.0.1:\(port)/metrics"]).status == 0 else { return nil }
            let text = try String(contentsOfFile: metricsFile, encoding: .utf8)
            let ran = text.split(separator: "\n").filter { $0.hasPrefix("opsd_check_last_run_timestamp_seconds{") }.count
            // The backup check measures an age once it has run after the backup.
            let fresh = text.contains(#"opsd_check_value_seconds{check="fresh",kind="backup"}"#)
            return ran == 8 && fresh && text.contains(#"opsd_worker_state{worker="crasher",state="fatal"} 1"#) ? text : nil
        }
        let promtool = try await run("/bin/sh", ["-c", "promtool check metrics < \(metricsFile)"])
        #expect(promtool.status == 0 && promtool.stdout.isEmpty && promtool.stderr.isEmpty, "\(promtool.stdout)\(promtool.stderr)")

        let lines = Set(text.split(separator: "\n").map(String.init))
        for line in [
            #"opsd_worker_up{worker="w10"} 1"#,
            #"opsd_worker_state{worker="w1",state="running"} 1"#,
            #"opsd_worker_last_exit_code{worker="crasher"} 3"#,
            #"opsd_job_runs_total{job_name="good",result="ok"} 1"#,
            #"opsd_job_runs_total{job_name="bad",result="failed"} 1"#,
            #"opsd_job_runs_total{job_name="nightly",result="ok"} 1"#,
            #"opsd_job_last_result{job_name="bad",result="failed"} 1"#,
            #"opsd_backup_last_result{result="ok"} 1"#,
            "opsd_backup_unpushed_commits 0",
            #"opsd_check_state{check="root",kind="disk"} 0"#,
            #"opsd_check_value_items{check="outbox",kind="queue"} 0"#,
            #"opsd_check_value{check="rows",kind="sqlite"} 1"#,
            #"opsd_check_value_bytes{check="plugin",kind="command"} 2097152"#,
            #"opsd_event_drops_total{consumer="history"} 0"#,
        ] {
            #expect(lines.contains(line), "missing: \(line)")
        }
        for prefix in [
            "opsd_build_info{", "process_cpu_seconds_total ", "process_resident_memory_bytes ", "process_open_fds ", "process_start_time_seconds ",
            #"opsd_worker_start_time_seconds{worker="w1"} "#, #"opsd_worker_resident_memory_bytes{worker="w1"} "#,
            #"opsd_worker_cpu_seconds_total{worker="w1"} "#, #"opsd_job_last_success_timestamp_seconds{job_name="good"} "#,
            #"opsd_job_last_duration_seconds{job_name="nightly"} "#, "opsd_backup_last_success_timestamp_seconds ", "opsd_backup_last_duration_seconds ",
            #"opsd_check_value_ratio{check="root",kind="disk"} "#, #"opsd_check_value_ratio{check="memory",kind="memory"} "#,
            #"opsd_check_value_seconds{check="self",kind="http"} "#, #"opsd_check_value_seconds{check="db",kind="sqlite"} "#,
            #"opsd_check_value_seconds{check="fresh",kind="backup"} "#, #"opsd_events_total{kind="worker_fatal"} "#,
        ] {
            #expect(lines.contains { $0.hasPrefix(prefix) }, "missing: \(prefix)…")
        }
        // A ratio is a ratio: the disk check's value is at most 1.
        let disk = lines.first { $0.hasPrefix(#"opsd_check_value_ratio{check="root""#) }
        #expect(disk.flatMap { Double($0.split(separator: " ").last ?? "") }.map { $0 >= 0 && $0 <= 1 } == true, "\(disk ?? "")")

        // The drop counts come through the control API; nothing was dropped, so the human
        // status has no line about it.
        let json = try await run("opsctl", ["--config", config, "status", "--json"])
        let report = try WireJSON.decoder.decode(StatusReport.self, from: Data(json.stdout.utf8))
        #expect(report.eventDrops?["history"] == 0, "\(json.stdout)")
        let human = try await run("opsctl", ["--config", config, "status"])
        // 3: the crasher is fatal, a worker that should run and does not (issue 17).
        #expect(human.status == 3 && !human.stdout.contains("Events dropped"), "\(human.stdout)")

        daemon.signal(SIGTERM)
        #expect(await daemon.exitStatus() == 0)
    }
}
