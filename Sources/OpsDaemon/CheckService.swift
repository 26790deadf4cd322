public import Checks
public import Events
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
/// (hysteresis, history in the state database), confirmed changes into opsd's event stream
/// (`check_warn`, `check_crit`, `check_unknown`, `check_recover`), and `restart:` actions to
/// the supervisor.
///
/// A reload replaces the running checks; the monitor keeps the states of checks whose kind did
/// not change, so a reload neither forgets a CRIT nor emits its event again.
public final class CheckService: Service, Sendable {
    /// What every output reads.
    public let monitor: CheckMonitor
    private let environment: CheckEnvironment
    /// The running checks; nil before `run()` starts them and after shutdown.
    private let runner = Mutex<Task<Void, Never>?>(nil)
    /// The checks in force, started by `run()` and replaced by `apply(_:)`.
    private let specs: Mutex<[CheckSpec]>
    private let logger: Logger

    /// Creates the service for `configuration`; history and the backup records backup checks read
    /// live in `database`, opsd's state database. Without a usable database the checks still
    /// run, and the log says why there is no history. Confirmed state changes go to `events`.
    /// `workerRunningFor` tells the checks that watch a worker whether it runs, and for how long.
    public init(
        configuration: Configuration, database: StateDatabase, children: ChildProcesses, events: any EventSink, logger: Logger,
        workerRunningFor: (@Sendable (String) async -> Duration?)? = nil,
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
        self.environment = environment
        self.logger = logger
        self.specs = Mutex(configuration.checks)
        self.monitor = CheckMonitor(
            specs: configuration.checks, history: history, seed: seed, logger: logger,
            onChange: { change in CheckEvents.event(for: change).map(events.emit) }, restartWorker: restartWorker,
            workerRunningFor: workerRunningFor
        )
    }

    /// Runs the checks until graceful shutdown, then stops them and closes their HTTP clients.
    public func run() async throws {
        // The specs are read under the runner's lock, so a reload racing this start either is
        // seen here or finds the checks running and restarts them.
        runner.withLock { $0 = startRunner(specs.withLock { $0 }) }
        try? await gracefulShutdown()
        let running = runner.withLock { runner in
            defer { runner = nil }
            return runner
        }
        running?.cancel()
    }

    /// Takes a reloaded configuration's checks. Before `run()` and after shutdown it only
    /// records them.
    public func apply(_ configuration: Configuration) async {
        await monitor.update(specs: configuration.checks)
        let checksChanged = specs.withLock { specs in
            defer { specs = configuration.checks }
            return specs != configuration.checks
        }
        // Unchanged checks keep their schedule: restarting them would rerun every check within
        // seconds of each reload (and wake an idle daemon for nothing).
        guard checksChanged else { return }
        let replaced = runner.withLock { runner -> Task<Void, Never>? in
            guard let running = runner else { return nil }
            runner = startRunner(configuration.checks)
            return running
        }
        replaced?.cancel()
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
}

/// The event of a confirmed state change: `check_recover` for a return to OK from a known state,
/// none for a check's first confirmed OK (a start on a healthy host says nothing).
enum CheckEvents {
    static func event(for change: StateChange) -> Event? {
        let kind: EventKind
        switch change.state {
        case .ok:
            guard change.previous != nil else { return nil }
            kind = .checkRecover
        case .warn: kind = .checkWarn
        case .crit: kind = .checkCrit
        case .unknown: kind = .checkUnknown
        }
        var fields = ["state": change.state.rawValue, "check_kind": change.kind]
        if let previous = change.previous { fields["previous_state"] = previous.rawValue }
        if let value = change.result.value { fields["value"] = number(value) }
        if let unit = change.result.unit { fields["unit"] = unit }
        let message = change.state == .ok
            ? "check \(change.check) is OK again: \(change.result.message)"
            : "check \(change.check) is \(change.state.nagiosWord): \(change.result.message)"
        return Event(kind, subject: Subject(.check, change.check), message: message, fields: fields, time: change.result.time)
    }

    /// `93` rather than `93.0`; other values as Swift writes them.
    private static func number(_ value: Double) -> String {
        value.rounded() == value && abs(value) < 1e15 ? String(Int64(value)) : String(value)
    }
}
