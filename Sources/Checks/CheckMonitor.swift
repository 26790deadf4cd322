public import FoundationEssentials
import Glibc
public import Logging
public import OpsConfig
import Scheduling

/// Keeps what opsd knows about its checks: the latest result of each, the confirmed state after
/// hysteresis, and the history. It reports confirmed state changes (to the alerts) and asks for
/// a worker restart when a check stays CRIT for its `restart.after` results.
public actor CheckMonitor {
    private struct Entry {
        var spec: CheckSpec
        var hysteresis: Hysteresis
        var since: Date?
        var latest: CheckResult?
        /// Consecutive CRIT results toward a restart; starts over after each restart, so the
        /// worker gets `after` more runs to come back before it is restarted again.
        var critStreak = 0
        /// When the monitor took this check on (opsd's start, or the reload that added or
        /// changed it): the start of its start period unless it watches a worker.
        var watchedSince: Date
        /// The check's latest OK result: a pass ends a start period early.
        var passedAt: Date?
    }

    private var entries: [String: Entry] = [:]
    private var order: [String] = []
    private let history: CheckHistory?
    private let onChange: @Sendable (StateChange) async -> Void
    private let restartWorker: @Sendable (String) async -> Void
    private let workerRunningFor: (@Sendable (String) async -> Duration?)?
    private let logger: Logger

    /// Creates a monitor for `specs`; `history` may seed the confirmed states from before a restart.
    /// `workerRunningFor` says how long a worker has been running (ready, for a notify worker),
    /// nil while it is not; without it (opsctl, tests) every worker counts as running.
    public init(
        specs: [CheckSpec], history: CheckHistory?, seed: [String: CheckState] = [:], logger: Logger,
        onChange: @escaping @Sendable (StateChange) async -> Void = { _ in },
        restartWorker: @escaping @Sendable (String) async -> Void = { _ in },
        workerRunningFor: (@Sendable (String) async -> Duration?)? = nil,
        now: Date = Date()
    ) {
        self.history = history
        self.onChange = onChange
        self.restartWorker = restartWorker
        self.workerRunningFor = workerRunningFor
        self.logger = logger
        for spec in specs {
            entries[spec.name] = Entry(
                spec: spec, hysteresis: Hysteresis(failAfter: spec.failAfter, recoverAfter: spec.recoverAfter, state: seed[spec.name]),
                watchedSince: now
            )
        }
        order = specs.map(\.name)
    }

    /// Takes a new configuration: new checks start pending, changed ones keep their state only
    /// if their kind is unchanged, removed ones are forgotten.
    public func update(specs: [CheckSpec], now: Date = Date()) {
        var updated: [String: Entry] = [:]
        for spec in specs {
            if var entry = entries[spec.name], entry.spec.kind == spec.kind {
                entry.hysteresis = Hysteresis(failAfter: spec.failAfter, recoverAfter: spec.recoverAfter, state: entry.hysteresis.state)
                // An unchanged check keeps its start period's clock; a changed one starts over.
                if entry.spec != spec { entry.watchedSince = now }
                entry.spec = spec
                updated[spec.name] = entry
            } else {
                updated[spec.name] = Entry(
                    spec: spec, hysteresis: Hysteresis(failAfter: spec.failAfter, recoverAfter: spec.recoverAfter), watchedSince: now
                )
            }
        }
        entries = updated
        order = specs.map(\.name)
    }

    /// Records one run's result.
    public func record(_ name: String, _ result: CheckResult) async {
        // Asked before the entry is read: the actor may run another record across this await.
        let worker = entries[name]?.spec.watchedWorker
        let runningSince: Date?? = if let worker, let workerRunningFor {
            .some(await workerRunningFor(worker).map { Date(timeIntervalSinceNow: -$0.seconds) })
        } else {
            .none
        }
        guard var entry = entries[name] else { return }
        entry.latest = result
        if result.state == .ok { entry.passedAt = result.time }
        if result.state != .ok, let reason = Self.notCounted(entry, runningSince: runningSince, at: result.time) {
            // Shown (latest) and kept (history), but no step toward a state change, an alert or a restart.
            entries[name] = entry
            logger.debug("check result not counted", metadata: ["check": "\(name)", "state": "\(result.state.rawValue)", "reason": "\(reason)"])
            if let history {
                try? await history.append(check: name, result: result, confirmed: entry.hysteresis.state)
            }
            return
        }
        let change = entry.hysteresis.record(result.state)
        if change != nil { entry.since = result.time }
        var restart: String?
        if result.state == .crit, let action = entry.spec.restart {
            entry.critStreak += 1
            if entry.critStreak >= action.after {
                entry.critStreak = 0
                restart = action.worker
            }
        } else {
            entry.critStreak = 0
        }
        let confirmed = entry.hysteresis.state
        entries[name] = entry

        // Every run at debug: a check that stays CRIT must not write a line a second; the state
        // change below is what an operator needs to see.
        logger.debug("check ran", metadata: [
            "check": "\(name)", "state": "\(result.state.rawValue)", "message": "\(result.message)",
            "duration_ms": "\(Int(result.durationSeconds * 1000))",
        ])
        if let history {
            do { try await history.append(check: name, result: result, confirmed: confirmed) } catch {
                logger.warning("cannot store a check result in the state database", metadata: ["check": "\(name)", "error": "\(error)"])
            }
        }
        if let transition = change, let state = confirmed {
            logger.notice("check state changed", metadata: [
                "check": "\(name)", "from": "\(transition.previous?.rawValue ?? "pending")", "to": "\(state.rawValue)", "message": "\(result.message)",
            ])
            await onChange(StateChange(check: name, kind: entry.spec.kind.key, previous: transition.previous, state: state, result: result))
        }
        if let restart {
            logger.warning("restarting a worker because a check stayed critical", metadata: [
                "check": "\(name)", "worker": "\(restart)", "results": "\(entry.spec.restart?.after ?? 0)",
            ])
            await restartWorker(restart)
        }
    }

    /// Why a bad result at `time` does not count yet, or nil when it does: the watched worker is
    /// not running (`runningSince` is `.some(nil)`), or the check is within its start period (from
    /// the worker's start, else from when the monitor took the check on) and has not passed since.
    private static func notCounted(_ entry: Entry, runningSince: Date??, at time: Date) -> String? {
        if case .some(.none) = runningSince {
            return "worker \(entry.spec.watchedWorker ?? "") is not running"
        }
        let period = entry.spec.effectiveStartPeriod
        guard period > .zero else { return nil }
        let start = max(entry.watchedSince, runningSince.flatMap { $0 } ?? entry.watchedSince)
        if let passed = entry.passedAt, passed >= start { return nil }
        guard time < start.addingTimeInterval(period.seconds) else { return nil }
        return "within its start period of \(DurationText.format(period)) and not yet passed"
    }

    /// Every check's report, in config order; `names` narrows it (unknown names are ignored here;
    /// callers check them against `names()` first).
    public func reports(_ names: [String] = []) -> [CheckReport] {
        order.filter { names.isEmpty || names.contains($0) }.compactMap { name in
            guard let entry = entries[name] else { return nil }
            return CheckReport(
                name: name, kind: entry.spec.kind.key, state: entry.hysteresis.state, since: entry.since, latest: entry.latest,
                every: entry.spec.every, warn: entry.spec.warn?.description, crit: entry.spec.crit?.description
            )
        }
    }
}
