import BackupRecords
import Jobs
public import Events
import FoundationEssentials
public import StateStore

/// One alert route's delivery counts since opsd started, for `opsd_alert_deliveries_total`: the
/// route's name (never its URL), alerts delivered, failed after their retries, and dropped before
/// delivery (queue full or over the route's limit). A tuple rather than a type of its own, so the
/// alert routes' counters (`Alerts`' `AlertDeliveryCount`) map onto it without OpsDaemon defining
/// a second type of the same meaning.
public typealias AlertRouteCounts = (route: String, delivered: Int, failed: Int, dropped: Int)

/// Gathers what `/metrics` shows from each part's own snapshot, when a scrape asks: the daemon
/// state, the supervisor, the scheduler and its run records, the backup records, the check
/// monitor, the event bus and the alert routes. Nothing is kept up to date between scrapes, so
/// an idle opsd stays at zero wakeups.
public struct MetricsCollector: Sendable {
    let state: DaemonState
    let workers: any WorkerControl
    let jobs: any JobControl
    let checks: CheckService?
    let backups: BackupHistory?
    let tally: JobRunTally?
    let events: EventBus?
    let deliveries: @Sendable () async -> [AlertRouteCounts]

    /// A collector over opsd's parts. `database` is the state database (job runs and backup
    /// records); job runs recorded before this call are not counted in `opsd_job_runs_total`.
    /// `deliveries` answers each alert route's counts; the default answers none.
    public static func make(
        state: DaemonState, workers: any WorkerControl, jobs: any JobControl, checks: CheckService?, database: StateDatabase?,
        events: EventBus?, deliveries: @escaping @Sendable () async -> [AlertRouteCounts] = { [] }
    ) async -> MetricsCollector {
        var tally: JobRunTally?
        if let database {
            let store = JobRunStore(database: database)
            tally = JobRunTally(store: store, baseline: await JobRunTally.baseline(in: store))
        }
        return MetricsCollector(
            state: state, workers: workers, jobs: jobs, checks: checks, backups: database.map(BackupHistory.init(database:)), tally: tally,
            events: events, deliveries: deliveries
        )
    }

    /// The metrics now, in the exposition format.
    public func render() async -> String {
        MetricsText.render(await snapshot().families)
    }

    /// Every part's figures now.
    func snapshot() async -> MetricsSnapshot {
        let daemon = await state.snapshot()
        let configuration = daemon.configuration
        let workers = await workers.snapshot()
        let runs = await tally?.refresh() ?? [:]
        let jobs = await self.jobs.snapshot().map { job in
            MetricsSnapshot.JobFigures(name: job.spec.name, running: job.running, nextRun: job.nextRun, tally: runs[job.spec.name] ?? .init())
        }
        let backup = configuration.backup == nil ? nil : try? await backups?.summary()
        var workerEvents: [String: [EventKind: Int]] = [:]
        for (subject, counts) in events?.emittedCountsBySubject ?? [:] where subject.kind == .worker {
            workerEvents[subject.name] = counts
        }
        return MetricsSnapshot(
            now: Date(), version: daemon.version, sqliteVersion: Database.libraryVersion, startedAt: daemon.startedAt, reloads: daemon.reloads,
            lastReloadRejected: daemon.lastReloadErrors != nil, process: .current(), workers: workers, workerEvents: workerEvents, jobs: jobs,
            backup: backup, backupRemote: configuration.backup?.remote != nil, checks: await checks?.reports() ?? [],
            events: events?.emittedCounts ?? [:], drops: events?.droppedCounts ?? [:], deliveries: await deliveries()
        )
    }
}
