import Checks
public import Alerts
public import ControlPlane
import BackupRecords
public import Events
import DaemonRuntime
import FoundationEssentials
import Glibc
public import StateStore
import Jobs
import OpsAPI
import OpsConfig
import Supervisor
import WireMapping

/// The control API: what each path of the socket does.
///
/// | method | path | answer |
/// | --- | --- | --- |
/// | GET | /v1/status | `StatusReport` |
/// | GET | /v1/ping | `{"ok": true}` (used by the watchdog) |
/// | GET | /v1/health?checks=a,b | `[CheckHealth]` of the named checks (all without the parameter); 404 for an unknown name |
/// | POST | /v1/health/run?checks=a,b | runs the named checks (all without the parameter) now; their `[CheckHealth]` after it |
/// | POST | /v1/reload | `ReloadReport`; 200 when applied, 422 when the file was rejected |
/// | POST | /v1/workers/NAME/start, …/stop, …/restart?wait=S | the worker's `WorkerStatus`; 404 for an unknown name; with `wait=S`, 409 when a start did not reach running within S seconds (`workerAction`) |
/// | POST | /v1/workers/NAME/signal?signal=HUP | signals the worker's process group; its `WorkerStatus`; 409 when it has no process |
/// | GET | /v1/jobs | `[JobStatus]` |
/// | GET | /v1/jobs/NAME/runs?limit=N | `[JobRunStatus]`, newest first; 404 for an unknown name |
/// | POST | /v1/jobs/NAME/run?stream=1 | runs the job now; its `JobRunStatus` when it ends; 409 if it is running already; with `stream=1`, newline-delimited `JobRunStreamItem`s: the output as it comes, then the record (`JobRunStream`) |
/// | GET | /v1/workers/NAME/logs?lines=N&after=P&wait=S, /v1/jobs/NAME/logs?… | `ChildLogs`: the newest N lines (10 by default) outside journald, or that they are in the journal; with `after`, a long poll for the lines after position P; 404 for an unknown name, listing the workers and jobs (`LogsEndpoint`) |
/// | GET | /v1/events?since=T&after=ID&limit=N&wait=S | `[EventRecord]`, oldest first; a long poll with `wait` (`EventsEndpoint`) |
/// | POST | /v1/debug/stall?seconds=N | debug builds only, with `testHooks`: blocks the daemon state |
public struct ControlRoutes: ControlHandler {
    let state: DaemonState
    let supervisor: any WorkerControl
    let scheduler: any JobControl
    let reloader: Reloader
    let checks: CheckService?
    /// The backup records in opsd's state database, for /v1/status.
    let backups: BackupHistory?
    /// opsd's event stream: its consumers' drop counts, for /v1/status.
    let events: EventBus?
    /// opsd's event history and its long poll, for /v1/events.
    let eventLog: EventsEndpoint?
    /// The alert routes' delivery counts: their drops, for /v1/status.
    let alerts: AlertCounters?
    /// The workers' and jobs' output, for `opsctl logs`.
    let logs: LogsEndpoint?
    let testHooks: Bool

    /// Creates the routes; `database` is opsd's state database (backup records for /v1/status);
    /// `testHooks` enables the endpoints that exist only for tests, in debug builds (a release
    /// build has none). opsd passes its `Supervisor` and `JobScheduler`; tests pass fakes of the
    /// two protocols.
    public init(
        state: DaemonState, supervisor: any WorkerControl, scheduler: any JobControl, reloader: Reloader, checks: CheckService? = nil,
        database: StateDatabase? = nil, events: EventBus? = nil, eventLog: EventsEndpoint? = nil, alerts: AlertCounters? = nil,
        logs: LogsEndpoint? = nil, testHooks: Bool
    ) {
        self.logs = logs
        self.state = state
        self.supervisor = supervisor
        self.scheduler = scheduler
        self.reloader = reloader
        self.checks = checks
        self.backups = database.map(BackupHistory.init(database:))
        self.events = events
        self.eventLog = eventLog
        self.alerts = alerts
        self.testHooks = testHooks
    }

    /// Answers one request.
    public func handle(_ request: ControlRequest) async -> ControlResponse {
        switch (request.method, request.path) {
        case ("GET", "/v1/status"):
            return .json(await statusReport())
        case ("GET", "/v1/health"):
            return await health(names: request.query["checks"].map { $0.split(separator: ",").map(String.init) } ?? [])
        case ("POST", "/v1/health/run"):
            return await health(names: request.query["checks"].map { $0.split(separator: ",").map(String.init) } ?? [], now: true)
        case ("POST", let path) where path.hasPrefix("/v1/workers/"):
            return await workerAction(path.dropFirst("/v1/workers/".count).split(separator: "/").map(String.init), wait: request.query["wait"], signal: request.query["signal"])
        case ("GET", "/v1/jobs"):
            return .json(await jobStatuses())
        case ("GET", let path) where path.hasPrefix("/v1/jobs/") && path.hasSuffix("/runs"):
            let name = String(path.dropFirst("/v1/jobs/".count).dropLast("/runs".count))
            guard await scheduler.snapshot().contains(where: { $0.spec.name == name }) else {
                return .error("no job named \(name); `opsctl jobs` lists them", status: 404)
            }
            let limit = min(max(request.query["limit"].flatMap(Int.init) ?? 20, 1), 1000)
            do {
                return .json(try await scheduler.history(of: name, limit: limit).map(JobRunStatus.init))
            } catch {
                return .error("cannot read the job history: \(error)", status: 500)
            }
        case ("POST", let path) where path.hasPrefix("/v1/jobs/") && path.hasSuffix("/run"):
            let name = String(path.dropFirst("/v1/jobs/".count).dropLast("/run".count))
            guard await scheduler.snapshot().contains(where: { $0.spec.name == name }) else {
                return .error("no job named \(name); `opsctl jobs` lists them", status: 404)
            }
            guard request.query["stream"] == "1" else {
                do {
                    return .json(JobRunStatus(await (try await scheduler.startNow(name, output: nil)).value))
                } catch {
                    return .error(error.description, status: 409)
                }
            }
            let output = OutputRing(capacity: ChildOutput.recentBytes)
            do {
                return JobRunStream(run: try await scheduler.startNow(name, output: output), output: output).response()
            } catch {
                return .error(error.description, status: 409)
            }
        case ("GET", let path) where path.hasSuffix("/logs") && (path.hasPrefix("/v1/workers/") || path.hasPrefix("/v1/jobs/")):
            return await childLogs(path: path, query: request.query)
        case ("GET", "/v1/events"):
            guard let eventLog else { return .error("this opsd keeps no event history", status: 404) }
            return await eventLog.handle(query: request.query)
        case ("GET", "/v1/ping"):
            return .json(["ok": true])
        case ("POST", "/v1/reload"):
            let report = ReloadReport(await reloader.reload(trigger: "opsctl reload"))
            return .json(report, status: report.applied ? 200 : 422)
        #if OPSD_TEST_HOOKS
        case ("POST", "/v1/debug/stall") where testHooks:
            let seconds = request.query["seconds"].flatMap(Int.init) ?? 5
            await state.stallForTesting(seconds: min(seconds, 600))
            return .json(["stalled_seconds": seconds])
        #endif
        case (_, "/v1/status"), (_, "/v1/ping"), (_, "/v1/reload"), (_, "/v1/health"), (_, "/v1/health/run"), (_, "/v1/events"):
            return .error("\(request.method) is not allowed on \(request.path)", status: 405)
        default:
            return .error("no such endpoint: \(request.method) \(request.path)", status: 404)
        }
    }

    /// What `GET /v1/status` answers, gathered from each part's snapshot now; the status page
    /// (`StatusPage`) shows the same.
    func statusReport() async -> StatusReport {
        let daemon = await state.snapshot()
        let history = daemon.configuration.backup == nil ? nil : try? await backups?.summary()
        return StatusReport(
            daemon: daemon, workers: await supervisor.snapshot(), checks: await checks?.reports(), backupHistory: history,
            eventDrops: events?.droppedCounts,
            alertDrops: alerts.map { counters in Dictionary(counters.snapshot.map { ($0.route, $0.dropped) }, uniquingKeysWith: +) }
        )
    }

    /// What `GET /v1/jobs` answers; the status page shows the same.
    func jobStatuses() async -> [JobStatus] {
        var jobs: [JobStatus] = []
        for job in await scheduler.snapshot() {
            jobs.append(JobStatus(job, lastRun: await scheduler.lastRun(of: job.spec.name)))
        }
        return jobs
    }

    /// `GET /v1/workers/NAME/logs` and `/v1/jobs/NAME/logs`.
    private func childLogs(path: String, query: [String: String]) async -> ControlResponse {
        let kind = path.hasPrefix("/v1/workers/") ? "worker" : "job"
        let name = String(path.dropFirst(kind == "worker" ? "/v1/workers/".count : "/v1/jobs/".count).dropLast("/logs".count))
        let workers = await supervisor.snapshot().map(\.name)
        let jobs = await scheduler.snapshot().map(\.spec.name)
        guard (kind == "worker" ? workers : jobs).contains(name) else {
            if (kind == "worker" ? jobs : workers).contains(name) {
                return .error("no \(kind) named \(name): it is a \(kind == "worker" ? "job" : "worker")", status: 404)
            }
            let known = (workers.isEmpty ? "no workers" : "workers: \(workers.joined(separator: ", "))") + "; "
                + (jobs.isEmpty ? "no jobs" : "jobs: \(jobs.joined(separator: ", "))")
            return .error("no worker or job named \(name) (\(known))", status: 404)
        }
        guard let logs else { return .error("this opsd keeps no output of its children", status: 404) }
        return await logs.answer(name: name, kind: kind, query: query)
    }

    /// The named checks' health (all when none is named), after running them first when `now`.
    private func health(names: [String], now: Bool = false) async -> ControlResponse {
        guard let checks else { return .json([CheckHealth]()) }
        let all = await checks.reports()
        let unknown = names.filter { name in !all.contains { $0.name == name } }
        guard unknown.isEmpty else {
            let configured = all.isEmpty ? "none is configured" : "configured: \(all.map(\.name).joined(separator: ", "))"
            return .error("no check named \(unknown.joined(separator: ", ")) (\(configured))", status: 404)
        }
        let reports = now ? await checks.runNow(names) : (names.isEmpty ? all : all.filter { names.contains($0.name) })
        return .json(reports.map(CheckHealth.init))
    }

    /// A worker that must stay up this long after its start before a start without notify counts
    /// as reached (supervisord's `startsecs`), so that one that exits at once is reported.
    static let startSettle = Duration.seconds(1)

    /// Carries out a worker action. With `wait` (seconds), a start or restart also waits, in opsd,
    /// up to that long for the outcome (`Supervisor.awaitStart`): 200 with the worker's status
    /// when it is running, 409 with its status and `message` saying why when not. A stop needs no
    /// wait: it returns once the worker has ended (SIGKILL after its stop timeout). A signal
    /// (`signal=HUP`) goes to the worker's process group; 409 when it has no process.
    private func workerAction(_ parts: [String], wait: String?, signal: String?) async -> ControlResponse {
        guard parts.count == 2, let name = parts.first, let action = parts.last else {
            return .error("expected /v1/workers/NAME/start, /stop or /restart", status: 404)
        }
        var failure: String?
        var timeout: Duration?
        if let wait {
            guard let seconds = Double(wait), seconds >= 0, seconds <= 86_400 else {
                return .error("wait=\(wait) is not a number of seconds between 0 and 86400", status: 400)
            }
            timeout = .milliseconds(Int64(seconds * 1000))
        }
        do {
            switch action {
            case "start": try await supervisor.start(name)
            case "stop": try await supervisor.stop(name)
            case "restart": try await supervisor.restart(name)
            case "signal":
                guard let text = signal, let chosen = StopSignal(rawValue: text) else {
                    let names = StopSignal.allCases.map(\.rawValue).joined(separator: ", ")
                    return .error("signal=\(signal ?? "") is not a signal opsd sends; use one of \(names)", status: 400)
                }
                if try await !supervisor.signal(name, chosen) { failure = "it has no process to signal" }
            default: return .error("unknown worker action \"\(action)\"; use start, stop, restart or signal", status: 404)
            }
        } catch {
            return .error(error.description, status: 404)
        }
        if let timeout, action == "start" || action == "restart", case .failed(let reason) = await supervisor.awaitStart(name, timeout: timeout, settle: Self.startSettle) {
            failure = reason
        }
        guard var worker = await supervisor.snapshot().first(where: { $0.name == name }) else {
            return .error("worker \(name) disappeared", status: 500)
        }
        guard let failure else { return .json(WorkerStatus(worker)) }
        worker.message = failure
        return .json(WorkerStatus(worker), status: 409)
    }
}
