import FoundationEssentials
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
    }

    private var entries: [String: Entry] = [:]
    private var order: [String] = []
    private let history: CheckHistory?
    private let onChange: @Sendable (StateChange) async -> Void
    private let restartWorker: @Sendable (String) async -> Void
    private let logger: Logger

    /// Creates a monitor for `specs`; `history` may seed the confirmed states from before a restart.
    public init(
        specs: [CheckSpec], history: CheckHistory?, seed: [String: CheckState] = [:], logger: Logger,
        onChange: @escaping @Sendable (StateChange) async -> Void = { _ in },
        restartWorker: @escaping @Sendable (String) async -> Void = { _ in }
    ) {
        self.history = history
        self.onChange = onChange
        self.restartWorker = restartWorker
        self.logger = logger
        for spec in specs {
            entries[spec.name] = Entry(spec: spec, hysteresis: Hysteresis(failAfter: spec.failAfter, recoverAfter: spec.recoverAfter, state: seed[spec.name]))
        }
        order = specs.map(\.name)
    }

    /// Takes a new configuration: new checks start pending, changed ones keep their state only
    /// if their kind is unchanged, removed ones are forgotten.
    public func update(specs: [CheckSpec]) {
        var updated: [String: Entry] = [:]
        for spec in specs {
            if var entry = entries[spec.name], entry.spec.kind == spec.kind {
                entry.hysteresis = Hysteresis(failAfter: spec.failAfter, recoverAfter: spec.recoverAfter, state: entry.hysteresis.state)
                entry.spec = spec
                updated[spec.name] = entry
            } else {
                updated[spec.name] = Entry(spec: spec, hysteresis: Hysteresis(failAfter: spec.failAfter, recoverAfter: spec.recoverAfter))
            }
        }
        entries = updated
        order = specs.map(\.name)
    }

    /// Records one run's result.
    public func record(_ name: String, _ result: CheckResult) async {
        guard var entry = entries[name] else { return }
        entry.latest = result
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
