public import Checks
import FoundationEssentials
import Glibc
public import Logging
public import OpsConfig
public import ProcessControl
public import ServiceLifecycle
import BackupRecords
public import StateStore
import Synchronization

/// Runs the configured checks inside opsd's service group: their results go to the monitor
/// (hysteresis, history in the state database), confirmed changes to the alert routes, and
/// `restart:` actions to the supervisor.
///
/// A reload replaces the running checks and alert routes; the monitor keeps the states of checks
/// whose kind did not change, so a reload neither forgets a CRIT nor re-sends its alert.
public final class CheckService: Service, Sendable {
    /// What every output reads.
    public let monitor: CheckMonitor
    private let environment: CheckEnvironment
    private let alerts: CurrentAlerts
    /// The running checks and alert delivery; nil before `run()` starts them and after shutdown.
    private let tasks = Mutex<(runner: Task<Void, Never>, alerts: Task<Void, Never>)?>(nil)
    /// The checks in force, started by `run()` and replaced by `apply(_:)`.
    private let specs: Mutex<[CheckSpec]>
    private let logger: Logger

    /// Creates the service for `configuration`; history and the backup records backup checks read
    /// live in `database`, opsd's state database. Without a usable database the checks still
    /// run, and the log says why there is no history.
    public init(
        configuration: Configuration, database: StateDatabase, children: ChildProcesses, logger: Logger,
        restartWorker: @escaping @Sendable (String) async -> Void
    ) async {
        let environment = CheckEnvironment(spawner: children, backupHistory: BackupHistory(database: database))
        var history: CheckHistory?
        var seed: [String: CheckState] = [:]
        do {
            let opened = CheckHistory(database: database)
            seed = try await opened.confirmedStates()
            history = opened
        } catch {
            logger.warning("check history is off: cannot open the state database", metadata: [
                "state_dir": "\(configuration.daemon.stateDirectory)", "error": "\(error)",
            ])
        }
        let alerts = CurrentAlerts(AlertDispatcher(routes: configuration.alerts, environment: environment, logger: logger))
        self.alerts = alerts
        self.environment = environment
        self.logger = logger
        self.specs = Mutex(configuration.checks)
        self.monitor = CheckMonitor(
            specs: configuration.checks, history: history, seed: seed, logger: logger,
            onChange: { change in alerts.current.send(change) }, restartWorker: restartWorker
        )
    }

    /// Runs the checks until graceful shutdown, then stops them and closes their HTTP clients.
    public func run() async throws {
        // The specs are read under the tasks' lock, so a reload racing this start either is seen
        // here or finds the tasks running and restarts them.
        tasks.withLock { $0 = (startRunner(specs.withLock { $0 }), startAlerts()) }
        try? await gracefulShutdown()
        let running = tasks.withLock { tasks in
            defer { tasks = nil }
            return tasks
        }
        running?.runner.cancel()
        running?.alerts.cancel()
    }

    /// Takes a reloaded configuration's checks and alert routes. Before `run()` and after
    /// shutdown it only records them.
    public func apply(_ configuration: Configuration) async {
        await monitor.update(specs: configuration.checks)
        alerts.replace(with: AlertDispatcher(routes: configuration.alerts, environment: environment, logger: logger))
        let checksChanged = specs.withLock { specs in
            defer { specs = configuration.checks }
            return specs != configuration.checks
        }
        let replaced = tasks.withLock { tasks -> [Task<Void, Never>] in
            guard var running = tasks else { return [] }
            defer { tasks = running }
            var replaced = [running.alerts]
            running.alerts = startAlerts()
            // Unchanged checks keep their schedule: restarting them would rerun every check
            // within seconds of each reload (and wake an idle daemon for nothing).
            if checksChanged {
                replaced.append(running.runner)
                running.runner = startRunner(configuration.checks)
            }
            return replaced
        }
        replaced.forEach { $0.cancel() }
    }

    /// The reports of the named checks (all when empty), in config order.
    public func reports(_ names: [String] = []) async -> [CheckReport] {
        await monitor.reports(names)
    }

    /// Runs the named checks (all when empty) now, at once and side by side, records each result
    /// as a scheduled run's (history, hysteresis, alerts), and returns the reports that follow:
    /// `opsctl health --now`. The schedule is not moved: the next scheduled run comes when it was due.
    public func runNow(_ names: [String] = []) async -> [CheckReport] {
        let selected = specs.withLock { $0 }.filter { names.isEmpty || names.contains($0.name) }
        await withDiscardingTaskGroup { group in
            for spec in selected {
                let check = environment.check(for: spec)
                group.addTask { [monitor] in await monitor.record(spec.name, await check.run()) }
            }
        }
        return await monitor.reports(names)
    }

    private func startRunner(_ specs: [CheckSpec]) -> Task<Void, Never> {
        let runner = CheckRunner(checks: specs.map(environment.check(for:))) { [monitor] name, result in
            await monitor.record(name, result)
        }
        return Task { await runner.run() }
    }

    private func startAlerts() -> Task<Void, Never> {
        let dispatcher = alerts.current
        return Task { await dispatcher.run() }
    }
}

/// The alert routes in force; a reload swaps them while state changes keep arriving.
private final class CurrentAlerts: Sendable {
    private let dispatcher: Mutex<AlertDispatcher>

    init(_ dispatcher: AlertDispatcher) {
        self.dispatcher = Mutex(dispatcher)
    }

    var current: AlertDispatcher { dispatcher.withLock { $0 } }

    func replace(with new: AlertDispatcher) {
        dispatcher.withLock { $0 = new }
    }
}
