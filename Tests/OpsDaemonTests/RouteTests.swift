import ControlPlane
import DaemonRuntime
import Foundation
@testable import Jobs
import Logging
import OpsAPI
import OpsConfig
import OpsDaemon
import Scheduling
@testable import Supervisor
import Systemd
import Testing
import TestSupport

/// The supervisor as the routes see it: two workers whose actions change only their state, and
/// the actions asked for, in order.
private actor FakeWorkers: WorkerControl {
    private var workers: [WorkerSnapshot]
    private(set) var actions: [String] = []

    init() {
        workers = [
            WorkerSnapshot(
                name: "web", state: .running, command: ["/usr/bin/app", "serve"], pid: 4242, uptime: .seconds(90), restarts: 2,
                operatorActions: 3, plannedRestarts: 1, lastExit: .signaled(9), statusText: "serving", residentBytes: 1_048_576, cpuTime: .milliseconds(1500), message: nil
            ),
            WorkerSnapshot(
                name: "queue", state: .fatal, command: ["/usr/bin/app", "work"], pid: nil, uptime: nil, restarts: 5,
                lastExit: .exited(3), statusText: nil, residentBytes: nil, cpuTime: nil, message: "more than 5 starts in 60s"
            ),
        ]
    }

    func snapshot() -> [WorkerSnapshot] { workers }
    func start(_ name: String) throws(SupervisorError) { try act("start", name, becomes: .running) }
    func stop(_ name: String) throws(SupervisorError) { try act("stop", name, becomes: .stopped) }
    func restart(_ name: String) throws(SupervisorError) { try act("restart", name, becomes: .running) }

    private func act(_ action: String, _ name: String, becomes state: Supervisor.State) throws(SupervisorError) {
        guard let index = workers.firstIndex(where: { $0.name == name }) else {
            throw .unknownWorker(name, known: workers.map(\.name))
        }
        actions.append("\(action) \(name)")
        workers[index].state = state
        workers[index].pid = state == .running ? 5000 + Int32(actions.count) : nil
    }
}

/// The scheduler as the routes see it: one job, running or not as the test says, with records.
private actor FakeJobs: JobControl {
    static let record = RunRecord(
        scheduledAt: Date(timeIntervalSince1970: 1_772_334_000), startedAt: Date(timeIntervalSince1970: 1_772_334_000),
        finishedAt: Date(timeIntervalSince1970: 1_772_334_002), result: .ok, attempts: 1, message: "report sent"
    )
    private let spec: JobSpec
    private var running: Bool
    private(set) var runs = 0

    init(running: Bool) throws {
        spec = JobSpec(name: "report", trigger: try Trigger.parse("0 3 * * *"), action: .command(CommandSpec(command: ["/bin/true"])))
        self.running = running
    }

    func snapshot() -> [JobSnapshot] {
        [JobSnapshot(spec: spec, nextRun: Date(timeIntervalSince1970: 1_772_420_400), running: running)]
    }

    func lastRun(of job: String) -> RunRecord? { job == spec.name ? Self.record : nil }

    func history(of job: String, limit: Int) -> [RunRecord] {
        Array(repeating: Self.record, count: min(limit, 3))
    }

    func startNow(_ name: String, output: OutputRing?) throws(JobFailure) -> Task<RunRecord, Never> {
        guard name == spec.name else { throw JobFailure("no job named \(name); `opsctl jobs` lists them") }
        guard !running else { throw JobFailure("\(name) is running already; wait for it to finish (`opsctl jobs show \(name)`)") }
        runs += 1
        output?.append(Array("report sent\n".utf8))
        output?.close()
        return Task { Self.record }
    }
}

/// The routes over a real `DaemonState` and `Reloader` and fakes of the supervisor and scheduler.
private struct Routes {
    /// Named in the configuration only: nothing here opens, binds or reads them.
    static let directory = "/tmp/ops-routes-never-created"
    static let configPath = directory + "/ops.yaml"
    let workers = FakeWorkers()
    let jobs: FakeJobs
    let routes: ControlRoutes

    init(jobRunning: Bool = false, logs: LogsEndpoint? = nil) throws {
        let loaded = ConfigLoader.parse(yaml: """
            daemon:
              socket: \(Self.directory)/opsd.sock
              state_dir: \(Self.directory)/state
            workers:
              - {name: web, command: [/usr/bin/app, serve]}
              - {name: queue, command: [/usr/bin/app, work]}
            checks:
              - {name: root-disk, disk: /, warn: 80%, crit: 90%, every: 30s}
            """, baseDirectory: Self.directory)
        guard loaded.diagnostics.isEmpty else { throw TestFailure("the test's configuration has problems: \(loaded.diagnostics)") }
        let state = DaemonState(configuration: loaded.configuration, configPath: Self.configPath, logger: Logger(label: "test"))
        let reloader = Reloader(
            state: state, apply: { _ in }, summary: { "" }, notifier: SystemdNotifier(environment: [:]), logger: Logger(label: "test")
        )
        jobs = try FakeJobs(running: jobRunning)
        routes = ControlRoutes(state: state, supervisor: workers, scheduler: jobs, reloader: reloader, logs: logs, testHooks: false)
    }

    func send(_ method: String, _ path: String, query: [String: String] = [:]) async -> ControlResponse {
        await routes.handle(ControlRequest(method: method, path: path, query: query))
    }
}

private func errorText(_ response: ControlResponse) -> String {
    (try? response.decode(ErrorBody.self).error) ?? String(decoding: response.body, as: UTF8.self)
}

/// The control API's routes in process, against fakes of the supervisor and the scheduler: what
/// each path answers, without a socket or a single process. The socket itself is tested in
/// ControlPlaneTests, the real supervisor and scheduler in their own targets and IntegrationTests.
@Suite("control routes in process")
struct RouteTests {
    @Test("status assembles the daemon, each worker in wire terms, and the configured checks (pending without the check service)")
    func status() async throws {
        let routes = try Routes()
        let response = await routes.send("GET", "/v1/status")
        #expect(response.status == 200)
        let report = try response.decode(StatusReport.self)
        #expect(report.configPath == Routes.configPath)
        #expect(report.socket == Routes.directory + "/opsd.sock")
        #expect(report.stateDirectory == Routes.directory + "/state")
        #expect(report.pid == getpid())
        #expect(report.reloads == 0)
        #expect(report.workers == [
            WorkerStatus(
                name: "web", state: .running, command: ["/usr/bin/app", "serve"], pid: 4242, uptimeSeconds: 90, restarts: 2,
                operatorActions: 3, plannedRestarts: 1, lastExit: .signaled(9), statusText: "serving", rssBytes: 1_048_576, cpuSeconds: 1.5, message: nil
            ),
            WorkerStatus(
                name: "queue", state: .fatal, command: ["/usr/bin/app", "work"], pid: nil, uptimeSeconds: nil, restarts: 5,
                operatorActions: 0, plannedRestarts: 0, lastExit: .exited(3), statusText: nil, rssBytes: nil, cpuSeconds: nil, message: "more than 5 starts in 60s"
            ),
        ])
        #expect(report.checks == [CheckStatus(name: "root-disk", kind: "disk", state: .pending, everySeconds: 30)])
        #expect(report.backup == nil)
        #expect(await routes.workers.actions.isEmpty, "status changes nothing")
    }

    @Test("a worker action is carried out and answered with the worker as it is afterwards", arguments: [
        ("start", WorkerStatus.State.running), ("stop", .stopped), ("restart", .running),
    ])
    func workerAction(action: String, state: WorkerStatus.State) async throws {
        let routes = try Routes()
        let response = await routes.send("POST", "/v1/workers/queue/\(action)")
        #expect(response.status == 200, "\(errorText(response))")
        let worker = try response.decode(WorkerStatus.self)
        #expect(worker.name == "queue")
        #expect(worker.state == state)
        #expect(await routes.workers.actions == ["\(action) queue"])
    }

    @Test("an unknown worker, an unknown action and a malformed path are 404s that say what exists")
    func unknownWorker() async throws {
        let routes = try Routes()
        let unknown = await routes.send("POST", "/v1/workers/mailer/restart")
        #expect(unknown.status == 404)
        #expect(errorText(unknown) == "no worker is named \"mailer\"; configured workers: web, queue")

        let action = await routes.send("POST", "/v1/workers/web/reboot")
        #expect(action.status == 404)
        #expect(errorText(action) == "unknown worker action \"reboot\"; use start, stop, restart or signal")

        let malformed = await routes.send("POST", "/v1/workers/web")
        #expect(malformed.status == 404)
        #expect(errorText(malformed).contains("expected /v1/workers/NAME/start"))
        #expect(await routes.workers.actions.isEmpty)
    }

    @Test("logs: a worker's newest lines from its ring, none for a silent child, the journal's answer under journald, 400 for a bad count, 404 naming what exists")
    func logs() async throws {
        let workers = RecentOutput(bytesPerChild: 1024)
        workers.ring(for: "web").append(Array("one\ntwo\nthree\n".utf8))
        let routes = try Routes(logs: LogsEndpoint(workers: workers, jobs: RecentOutput(bytesPerChild: 1024), journal: false))
        let last = await routes.send("GET", "/v1/workers/web/logs", query: ["lines": "2"])
        #expect(try last.decode(ChildLogs.self) == ChildLogs(name: "web", kind: "worker", source: .memory, lines: ["two", "three"], position: 14))
        // Following from there: what is written next, whole lines only.
        workers.ring(for: "web").append(Array("four\nfi".utf8))
        let next = await routes.send("GET", "/v1/workers/web/logs", query: ["after": "14", "wait": "0"])
        #expect(try next.decode(ChildLogs.self) == ChildLogs(name: "web", kind: "worker", source: .memory, lines: ["four"], position: 19))
        let silent = await routes.send("GET", "/v1/jobs/report/logs")
        #expect(try silent.decode(ChildLogs.self) == ChildLogs(name: "report", kind: "job", source: .memory, lines: [], position: 0))

        let bad = await routes.send("GET", "/v1/workers/web/logs", query: ["lines": "0"])
        #expect(bad.status == 400)
        #expect(errorText(bad) == "lines must be a whole number from 1, not \"0\"")
        let unknown = await routes.send("GET", "/v1/workers/mailer/logs")
        #expect(unknown.status == 404)
        #expect(errorText(unknown) == "no worker or job named mailer (workers: web, queue; jobs: report)")
        let other = await routes.send("GET", "/v1/workers/report/logs")
        #expect(errorText(other) == "no worker named report: it is a job")

        let journal = try Routes(logs: LogsEndpoint(workers: nil, jobs: nil, journal: true))
        let there = await journal.send("GET", "/v1/workers/queue/logs")
        #expect(try there.decode(ChildLogs.self) == ChildLogs(name: "queue", kind: "worker", source: .journal, lines: []))
    }

    @Test("jobs: the list with each job's newest run, a job's records with the limit kept in bounds, 404 for an unknown job")
    func jobs() async throws {
        let routes = try Routes()
        let list = await routes.send("GET", "/v1/jobs")
        #expect(list.status == 200)
        let jobs = try list.decode([JobStatus].self)
        #expect(jobs.map(\.name) == ["report"])
        #expect(jobs.first?.trigger == "0 3 * * *")
        #expect(jobs.first?.nextRun == Date(timeIntervalSince1970: 1_772_420_400))
        #expect(jobs.first?.lastRun == JobRunStatus(FakeJobs.record))

        let runs = await routes.send("GET", "/v1/jobs/report/runs", query: ["limit": "2"])
        #expect(try runs.decode([JobRunStatus].self).count == 2)
        let clamped = await routes.send("GET", "/v1/jobs/report/runs", query: ["limit": "0"])
        #expect(try clamped.decode([JobRunStatus].self).count == 1, "a limit below 1 is read as 1")

        let unknown = await routes.send("GET", "/v1/jobs/nightly/runs")
        #expect(unknown.status == 404)
        #expect(errorText(unknown) == "no job named nightly; `opsctl jobs` lists them")
    }

    @Test("jobs run: the record when the run ends, 409 while the job is running, 404 for an unknown job")
    func runNow() async throws {
        let idle = try Routes()
        let ran = await idle.send("POST", "/v1/jobs/report/run")
        #expect(ran.status == 200, "\(errorText(ran))")
        #expect(try ran.decode(JobRunStatus.self) == JobRunStatus(FakeJobs.record))
        #expect(await idle.jobs.runs == 1)

        let busy = try Routes(jobRunning: true)
        let refused = await busy.send("POST", "/v1/jobs/report/run")
        #expect(refused.status == 409)
        #expect(errorText(refused).contains("report is running already"))
        #expect(await busy.jobs.runs == 0)

        let unknown = await idle.send("POST", "/v1/jobs/nightly/run")
        #expect(unknown.status == 404)
    }

    @Test("a wrong method on a known path is 405, an unknown path 404")
    func methods() async throws {
        let routes = try Routes()
        #expect(await routes.send("POST", "/v1/status").status == 405)
        #expect(await routes.send("GET", "/v1/reload").status == 405)
        #expect(await routes.send("GET", "/v1/nothing").status == 404)
        #expect(await routes.send("POST", "/v1/debug/stall").status == 404, "no test hook without testHooks")
    }
}
