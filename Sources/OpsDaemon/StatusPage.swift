import Checks
import FoundationEssentials
import Glibc
import OpsAPI
import WireMapping

/// What the status page on `daemon.listen` shows, gathered when a browser asks and dropped once
/// the page is rendered (no cache, no timer: an idle opsd stays at zero wakeups). The workers,
/// backup and daemon lines are `opsctl status`'s own report and the jobs `opsctl jobs`' list,
/// from the same gatherers as the control socket's routes (`ControlRoutes`); the checks are
/// `/v1/health`'s, for their values; the events are the newest of the history.
struct StatusPage: Sendable {
    /// How many of the newest events the page lists.
    static let recentEventCount = 20

    /// The moment the page was gathered: ages are computed from it.
    var now: Date
    /// The machine's host name, so a person with several tabs knows which host this is.
    var host: String
    /// What `GET /v1/status` answers.
    var report: StatusReport
    /// Every check with its latest run (state, value, message), in config order.
    var checks: [CheckHealth]
    /// What `GET /v1/jobs` answers.
    var jobs: [JobStatus]
    /// The newest events, newest first; nil when this opsd keeps no history.
    var events: [EventRecord]?

    /// Gathers the page from `routes`' parts now.
    static func gather(from routes: ControlRoutes) async -> StatusPage {
        let report = await routes.statusReport()
        let checks = await routes.checks?.reports().map(CheckHealth.init) ?? report.checks.map {
            CheckHealth(name: $0.name, kind: $0.kind, state: $0.state, since: nil, latest: nil, everySeconds: $0.everySeconds, warn: nil, crit: nil)
        }
        var events: [EventRecord]?
        if let history = routes.eventLog?.history {
            // An unreadable history shows as no events rather than failing the whole page.
            events = (try? await history.recent(limit: recentEventCount))?.reversed().map(EventRecord.init) ?? []
        }
        return StatusPage(now: Date(), host: hostName(), report: report, checks: checks, jobs: await routes.jobStatuses(), events: events)
    }

    private static func hostName() -> String {
        var buffer = [CChar](repeating: 0, count: 256)
        guard gethostname(&buffer, buffer.count - 1) == 0 else { return "" }
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}

/// How a row looks on the status page: the class that colours it, named for what it means. The
/// page always prints the state's own word beside the colour, so nothing depends on colour alone.
enum StatusTone: String, Sendable {
    /// Working as configured.
    case ok
    /// Nothing to judge: stopped on purpose, not run yet.
    case idle
    /// Needs a look soon: restarting, a warning, a backup not pushed.
    case warn
    /// Down or failing: a fatal worker, a critical check, a failed job or backup.
    case broken

    /// A worker's tone: fatal, or ended with a failure, is broken; on its way up or down is a warning.
    init(_ worker: WorkerStatus) {
        switch worker.state {
        case .running: self = .ok
        case .starting, .stopping, .backoff: self = .warn
        case .stopped: self = .idle
        case .exited: self = worker.lastExit == .exited(0) ? .idle : .broken
        case .fatal: self = .broken
        }
    }

    /// A check's tone: critical and unknown (it cannot even measure) are broken.
    init(_ level: CheckLevel) {
        switch level {
        case .ok: self = .ok
        case .pending: self = .idle
        case .warn: self = .warn
        case .crit, .unknown: self = .broken
        }
    }

    /// A job's tone, from its newest run.
    init(_ job: JobStatus) {
        switch job.lastRun?.result {
        case nil, .running: self = .idle
        case .ok: self = .ok
        case .skipped, .missed, .interrupted: self = .warn
        case .failed: self = .broken
        }
    }

    /// The backup's tone: a failed run is broken; none yet, or commits the remote lacks, a warning.
    init(_ backup: BackupStatus) {
        if backup.lastError != nil {
            self = .broken
        } else if backup.lastBackupAt == nil || (backup.unpushedCommits ?? 0) > 0 {
            self = .warn
        } else {
            self = .ok
        }
    }

    /// An event's tone, from its severity.
    init(severity: String) {
        switch severity {
        case "critical": self = .broken
        case "warning": self = .warn
        case "ok": self = .ok
        default: self = .idle
        }
    }
}
