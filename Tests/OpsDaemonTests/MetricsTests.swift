import BackupRecords
import Checks
import Events
import Foundation
@testable import Jobs
import Logging
import OpsConfig
@testable import OpsDaemon
import Scheduling
import StateStore
@testable import Supervisor
import ControlPlane
import DaemonRuntime
import OpsAPI
import Systemd
import Testing
import TestSupport

/// A private temporary directory, removed at the end.
private final class TemporaryDirectory {
    let path: String

    init() throws {
        var template = Array("/tmp/ops-metrics-XXXXXX".utf8CString)
        guard let directory = mkdtemp(&template).map({ String(cString: $0) }) else { throw TestFailure("mkdtemp failed: \(String(cString: strerror(errno)))") }
        path = directory
    }

    deinit { try? FileManager.default.removeItem(atPath: path) }
}

/// `promtool check metrics` on `text`: its complaints, empty when it is silent.
private func promtoolComplaints(_ text: String, in directory: TemporaryDirectory) async throws -> String {
    let file = "\(directory.path)/metrics.txt"
    try text.write(toFile: file, atomically: false, encoding: .utf8)
    let outcome = try await run("/bin/sh", ["-c", "promtool check metrics < \(file)"])
    return outcome.status == 0 ? outcome.stdout + outcome.stderr : "exit \(outcome.status): \(outcome.stdout)\(outcome.stderr)"
}

private actor FixedWorkers: WorkerControl {
    let workers: [WorkerSnapshot]
    init(_ workers: [WorkerSnapshot]) { self.workers = workers }
    func snapshot() -> [WorkerSnapshot] { workers }
    func start(_ name: String) throws(SupervisorError) {}
    func stop(_ name: String) throws(SupervisorError) {}
    func restart(_ name: String) throws(SupervisorError) {}
}

private actor FixedJobs: JobControl {
    let jobs: [JobSnapshot]
    init(_ jobs: [JobSnapshot]) { self.jobs = jobs }
    func snapshot() -> [JobSnapshot] { jobs }
    func lastRun(of job: String) -> RunRecord? { nil }
    func history(of job: String, limit: Int) -> [RunRecord] { [] }
    func startNow(_ name: String, output: OutputRing?) throws(JobFailure) -> Task<RunRecord, Never> { throw JobFailure("not in this test") }
}

@Suite("/metrics: Prometheus families in base units, from each part's snapshot")
struct MetricsTests {
    static let time = Date(timeIntervalSince1970: 1_800_000_000)

    static func check(_ name: String, _ kind: String, _ state: CheckState, value: Double?, unit: String?) -> CheckReport {
        CheckReport(
            name: name, kind: kind, state: state, since: time,
            latest: CheckResult(state: state, message: name, value: value, unit: unit, time: time, durationSeconds: 0.25),
            every: .seconds(60), warn: nil, crit: nil
        )
    }

    static func run(_ result: RunResult, started: Double, seconds: Double) -> JobRunTally.Run {
        JobRunTally.Run(
            started: Date(timeIntervalSince1970: started), finished: Date(timeIntervalSince1970: started + seconds), result: result
        )
    }

    /// Known inputs for every family.
    static var snapshot: MetricsSnapshot {
        var job = JobRunTally.Job()
        job.counts = [.ok: 3, .failed: 1]
        job.lastStarted = (7, run(.failed, started: 1_800_000_100, seconds: 12.5))
        job.lastFinished = job.lastStarted
        job.lastSuccess = Date(timeIntervalSince1970: 1_799_999_000)
        return MetricsSnapshot(
            now: time, version: "9.9.9", sqliteVersion: "3.40.1", startedAt: Date(timeIntervalSince1970: 1_799_990_000), reloads: 2,
            lastReloadRejected: true,
            process: .init(cpuSeconds: 1.5, residentBytes: 14_000_000, virtualBytes: 300_000_000, openDescriptors: 21, maxDescriptors: 524_288),
            workers: [
                WorkerSnapshot(
                    name: "web", state: .running, command: ["/bin/app"], pid: 42, uptime: .seconds(90), restarts: 2, lastExit: .signaled(9),
                    statusText: nil, residentBytes: 1_048_576, cpuTime: .milliseconds(1500), message: nil
                ),
                WorkerSnapshot(
                    name: "queue", state: .fatal, command: ["/bin/app"], pid: nil, uptime: nil, restarts: 5, lastExit: .exited(3),
                    statusText: nil, residentBytes: nil, cpuTime: nil, message: "gave up"
                ),
            ],
            workerEvents: ["queue": [.workerExited: 5, .workerFatal: 1]],
            jobs: [.init(name: "report", running: false, nextRun: Date(timeIntervalSince1970: 1_800_003_600), tally: job)],
            backup: BackupRecordSummary(
                lastRun: .init(
                    finished: Date(timeIntervalSince1970: 1_800_000_030), succeeded: true, remoteConfigured: true, remoteInSync: false,
                    unpushedCommits: 2, error: "push failed", started: Date(timeIntervalSince1970: 1_800_000_000), storedBytes: 40960
                ),
                lastSuccess: Date(timeIntervalSince1970: 1_800_000_030), lastInSync: Date(timeIntervalSince1970: 1_799_900_000)
            ),
            backupRemote: true,
            checks: [
                check("root", "disk", .warn, value: 85, unit: "percent"),
                check("api", "http", .ok, value: 250, unit: "ms"),
                check("outbox", "queue", .ok, value: 4, unit: "items"),
                check("backup-fresh", "backup", .ok, value: 1.5, unit: "h"),
                check("rows", "sqlite", .ok, value: 17, unit: ""),
                check("plugin", "command", .crit, value: 2, unit: "MB"),
                check("odd \"name\"\\", "command", .unknown, value: 3, unit: "furlongs"),
            ],
            events: [.workerExited: 5, .workerFatal: 1, .checkWarn: 1], drops: ["alerts": 3, "journal": 0],
            deliveries: [(route: "ops-slack", delivered: 4, failed: 1, dropped: 3)]
        )
    }

    @Test("known inputs give the expected samples, each family in one base unit; promtool is silent")
    func families() async throws {
        let text = MetricsText.render(Self.snapshot.families)
        let expected = [
            #"opsd_build_info{version="9.9.9",sqlite="3.40.1"} 1"#,
            "opsd_config_reloads_total 2",
            "opsd_config_last_reload_successful 0",
            "process_start_time_seconds 1799990000",
            "process_cpu_seconds_total 1.5",
            "process_resident_memory_bytes 14000000",
            "process_open_fds 21",
            "process_max_fds 524288",
            #"opsd_worker_up{worker="web"} 1"#,
            #"opsd_worker_up{worker="queue"} 0"#,
            #"opsd_worker_state{worker="queue",state="fatal"} 1"#,
            #"opsd_worker_state{worker="queue",state="running"} 0"#,
            #"opsd_worker_restarts_total{worker="queue"} 5"#,
            #"opsd_worker_failures_total{worker="queue",reason="exited"} 5"#,
            #"opsd_worker_failures_total{worker="queue",reason="fatal"} 1"#,
            #"opsd_worker_failures_total{worker="web",reason="watchdog"} 0"#,
            #"opsd_worker_last_exit_code{worker="web"} 137"#,
            #"opsd_worker_last_exit_code{worker="queue"} 3"#,
            #"opsd_worker_start_time_seconds{worker="web"} 1799999910"#,
            #"opsd_worker_cpu_seconds_total{worker="web"} 1.5"#,
            #"opsd_worker_resident_memory_bytes{worker="web"} 1048576"#,
            #"opsd_job_runs_total{job_name="report",result="ok"} 3"#,
            #"opsd_job_runs_total{job_name="report",result="failed"} 1"#,
            #"opsd_job_runs_total{job_name="report",result="skipped"} 0"#,
            #"opsd_job_running{job_name="report"} 0"#,
            #"opsd_job_last_run_timestamp_seconds{job_name="report"} 1800000100"#,
            #"opsd_job_last_success_timestamp_seconds{job_name="report"} 1799999000"#,
            #"opsd_job_last_duration_seconds{job_name="report"} 12.5"#,
            #"opsd_job_last_result{job_name="report",result="failed"} 1"#,
            #"opsd_job_last_result{job_name="report",result="ok"} 0"#,
            #"opsd_job_next_run_timestamp_seconds{job_name="report"} 1800003600"#,
            "opsd_backup_last_run_timestamp_seconds 1800000030",
            "opsd_backup_last_success_timestamp_seconds 1800000030",
            "opsd_backup_last_push_timestamp_seconds 1799900000",
            #"opsd_backup_last_result{result="local"} 1"#,
            #"opsd_backup_last_result{result="ok"} 0"#,
            "opsd_backup_last_duration_seconds 30",
            "opsd_backup_unpushed_commits 2",
            "opsd_backup_last_stored_bytes 40960",
            #"opsd_check_state{check="root",kind="disk"} 1"#,
            #"opsd_check_value_ratio{check="root",kind="disk"} 0.85"#,
            #"opsd_check_value_seconds{check="api",kind="http"} 0.25"#,
            #"opsd_check_value_items{check="outbox",kind="queue"} 4"#,
            #"opsd_check_value_seconds{check="backup-fresh",kind="backup"} 5400"#,
            #"opsd_check_value{check="rows",kind="sqlite"} 17"#,
            #"opsd_check_value_bytes{check="plugin",kind="command"} 2097152"#,
            #"opsd_check_state{check="odd \"name\"\\",kind="command"} 3"#,
            #"opsd_check_duration_seconds{check="api",kind="http"} 0.25"#,
            #"opsd_check_last_run_timestamp_seconds{check="api",kind="http"} 1800000000"#,
            #"opsd_events_total{kind="worker_exited"} 5"#,
            #"opsd_events_total{kind="job_failed"} 0"#,
            #"opsd_event_drops_total{consumer="alerts"} 3"#,
            #"opsd_event_drops_total{consumer="journal"} 0"#,
            #"opsd_alert_deliveries_total{route="ops-slack",result="delivered"} 4"#,
            #"opsd_alert_deliveries_total{route="ops-slack",result="dropped"} 3"#,
        ]
        let lines = Set(text.split(separator: "\n").map(String.init))
        for line in expected { #expect(lines.contains(line), "missing: \(line)") }
        // One unit per family: the mixed family and its unit label are gone, and a value in a
        // unit with no base unit here is left out rather than mixed in.
        #expect(!text.contains("unit=\""))
        #expect(!text.contains("furlongs"))
        // The newest backup stayed local: it pushed nothing.
        #expect(!text.contains("opsd_backup_last_pushed_bytes"))
        #expect(!text.contains(#"opsd_check_value{check="odd"#))
        // Every family has its HELP and TYPE; counters end in _total.
        for family in Self.snapshot.families where !family.samples.isEmpty {
            #expect(text.contains("# TYPE \(family.name) \(family.kind.rawValue)\n"))
            #expect(family.kind == .counter ? family.name.hasSuffix("_total") : !family.name.hasSuffix("_total"), "\(family.name)")
        }
        let directory = try TemporaryDirectory()
        #expect(try await promtoolComplaints(text, in: directory) == "")
    }

    @Test("job runs are counted once each from the run records, from opsd's start on, though the records are trimmed")
    func jobTally() async throws {
        let directory = try TemporaryDirectory()
        let store = try JobRunStore(stateDirectory: directory.path)
        func at(_ seconds: Double) -> Date { Date(timeIntervalSince1970: 1_800_000_000 + seconds) }
        // Before opsd started: the last success counts for the "last" figures, not for the counter.
        let old = try await store.started("report", scheduled: at(0), at: at(0))
        try await store.finished(old, result: .ok, attempts: 1, message: nil, at: at(5))
        let tally = JobRunTally(store: store, baseline: await JobRunTally.baseline(in: store))

        let failed = try await store.started("report", scheduled: at(100), at: at(100))
        try await store.finished(failed, result: .failed, attempts: 3, message: "exit 1", at: at(130))
        let running = try await store.started("report", scheduled: at(200), at: at(200))
        // A fire time that found the run still going, recorded after it.
        try await store.notStarted("report", scheduled: at(260), result: .skipped, reason: "still running")
        var report = try #require(await tally.refresh()["report"])
        #expect(report.counts == [.failed: 1, .skipped: 1])
        #expect(report.lastSuccess == at(5))
        #expect(report.lastFinished?.run.duration == 30)
        #expect(report.lastStarted?.run.started == at(200))
        // Asked again with nothing new: nothing counted twice.
        #expect(try #require(await tally.refresh()["report"]).counts == [.failed: 1, .skipped: 1])

        try await store.finished(running, result: .ok, attempts: 1, message: nil, at: at(290))
        report = try #require(await tally.refresh()["report"])
        #expect(report.counts == [.failed: 1, .skipped: 1, .ok: 1])
        #expect(report.lastSuccess == at(290))
        #expect(report.lastFinished?.run.duration == 90)
        #expect(try #require(await tally.refresh()["report"]).counts == [.failed: 1, .skipped: 1, .ok: 1])
    }

    @Test("the collector reads workers, jobs, backup records, checks and the event bus of one daemon; promtool is silent")
    func collector() async throws {
        let directory = try TemporaryDirectory()
        let loaded = ConfigLoader.parse(yaml: """
            daemon:
              socket: \(directory.path)/opsd.sock
              state_dir: \(directory.path)/state
            backup:
              repository: \(directory.path)/backup.git
              remote: {url: "file://\(directory.path)/remote.git"}
              databases: [\(directory.path)/app.db]
            """, baseDirectory: directory.path)
        #expect(loaded.diagnostics.isEmpty, "\(loaded.diagnostics)")
        let state = DaemonState(configuration: loaded.configuration, configPath: "\(directory.path)/ops.yaml", logger: Logger(label: "test"))
        let store = try JobRunStore(stateDirectory: directory.path)
        let history = BackupHistory(database: store.database)
        // Pushed, then two that stayed local, then one whose push carried all three of theirs.
        for (offset, inSync, bytes) in [(0.0, true, 1000), (100, false, 200), (200, false, 30), (300, true, 4)] {
            try await history.recordSuccess(
                started: Self.time.addingTimeInterval(offset), finished: Self.time.addingTimeInterval(offset + 4), commit: "c\(offset)",
                remoteConfigured: true, remoteInSync: inSync, unpushedCommits: inSync ? 0 : 1, pushError: inSync ? nil : "offline",
                storedBytes: bytes
            )
        }
        let events = EventBus()
        let consumer = events.subscribe("history", capacity: 1)
        for _ in 0..<3 { events.emit(Event(.workerExited, subject: Subject(.worker, "web"), message: "web exited")) }
        events.emit(Event(.workerWatchdog, subject: Subject(.worker, "web"), message: "web stopped pinging"))
        events.emit(Event(.jobFailed, subject: Subject(.job, "report"), message: "report failed"))
        let spec = JobSpec(name: "report", trigger: try Trigger.parse("0 3 * * *"), action: .command(CommandSpec(command: ["/bin/true"])))
        let collector = await MetricsCollector.make(
            state: state,
            workers: FixedWorkers([Self.snapshot.workers[0]]),
            jobs: FixedJobs([JobSnapshot(spec: spec, nextRun: nil, running: true)]),
            checks: nil, database: store.database, events: events,
            deliveries: { [(route: "#1", delivered: 1, failed: 0, dropped: 0)] }
        )
        let text = await collector.render()
        let lines = Set(text.split(separator: "\n").map(String.init))
        for line in [
            #"opsd_worker_failures_total{worker="web",reason="exited"} 3"#,
            #"opsd_worker_failures_total{worker="web",reason="watchdog"} 1"#,
            #"opsd_events_total{kind="worker_exited"} 3"#,
            #"opsd_events_total{kind="job_failed"} 1"#,
            // The queue holds one event: the four after the first were dropped.
            #"opsd_event_drops_total{consumer="history"} 4"#,
            #"opsd_job_running{job_name="report"} 1"#,
            #"opsd_job_runs_total{job_name="report",result="ok"} 0"#,
            "opsd_backup_last_duration_seconds 4",
            "opsd_backup_last_stored_bytes 4",
            "opsd_backup_last_pushed_bytes 234",
            "opsd_backup_last_push_timestamp_seconds 1800000304",
            #"opsd_backup_last_result{result="ok"} 1"#,
            ##"opsd_alert_deliveries_total{route="#1",result="delivered"} 1"##,
            #"opsd_build_info{version="\#(opsVersion)",sqlite="\#(Database.libraryVersion)"} 1"#,
        ] {
            #expect(lines.contains(line), "missing: \(line)")
        }
        // opsd's own process, read from /proc/self.
        #expect(text.contains("\nprocess_resident_memory_bytes "))
        #expect(text.contains("\nprocess_open_fds "))
        #expect(try await promtoolComplaints(text, in: directory) == "")
        _ = consumer
    }

    @Test("/v1/status carries each event consumer's drops, for the line opsctl status prints")
    func dropsInStatus() async throws {
        let directory = try TemporaryDirectory()
        let loaded = ConfigLoader.parse(yaml: """
            daemon:
              socket: \(directory.path)/opsd.sock
              state_dir: \(directory.path)/state
            """, baseDirectory: directory.path)
        let state = DaemonState(configuration: loaded.configuration, configPath: "\(directory.path)/ops.yaml", logger: Logger(label: "test"))
        let reloader = Reloader(
            state: state, apply: { _ in }, summary: { "" }, notifier: SystemdNotifier(environment: [:]), logger: Logger(label: "test")
        )
        let events = EventBus()
        let slow = events.subscribe("alerts", capacity: 2)
        let keeping = events.subscribe("history", capacity: 100)
        for _ in 0..<5 { events.emit(Event(.opsdStarted, subject: .daemon, message: "started")) }
        let routes = ControlRoutes(
            state: state, supervisor: FixedWorkers([]), scheduler: FixedJobs([]), reloader: reloader, events: events, testHooks: false
        )
        let response = await routes.handle(ControlRequest(method: "GET", path: "/v1/status", query: [:]))
        let report = try response.decode(StatusReport.self)
        #expect(report.eventDrops == ["alerts": 3, "history": 0])
        #expect(String(decoding: response.body, as: UTF8.self).contains(#""event_drops""#))
        _ = (slow, keeping)
    }
}
