public import Events
import FoundationEssentials
import Glibc
public import Logging
public import NIOCore
public import OpsConfig
public import ProcessControl
public import Systemd
import Scheduling
import Synchronization
import DaemonRuntime

/// Launches the configured workers, restarts them by their policy, and stops them cleanly.
///
/// One actor owns every worker's state; the threads of `ChildProcesses` and `NotifyListener`
/// only deliver events into it. Every timer and every exit carries the worker's generation (which
/// grows with each start), so an event from an earlier run can never act on the current one.
///
/// Whatever starts or stops a worker's process (a control request, a reload, a check's
/// `restart:`, a restart after a crash or a backoff) takes that worker's turn first (`WorkerLocks`),
/// so a worker has at most one process however many requests arrive at once.
///
/// Failures become events (`worker_exited`, `worker_fatal`, `worker_watchdog`,
/// `worker_start_timeout`), and a worker that failed and then stays up for its `reset_after`
/// becomes `worker_recovered`. A stop that opsd or an operator asked for (stop, restart, reload, a
/// check's `restart:`, shutdown) is no failure and emits nothing.
public actor Supervisor {
    /// A worker's lifecycle state.
    public enum State: Sendable, CaseIterable {
        /// Launched; a notify worker stays here until READY=1.
        case starting
        /// Up.
        case running
        /// Waiting before the next start after a quick crash.
        case backoff
        /// Its stop signal was sent; waiting for it to end.
        case stopping
        /// Stopped on request, or not started yet.
        case stopped
        /// Ended and, by its restart policy, stays down.
        case exited
        /// Crashed more often than `burst` allows; down until started by hand.
        case fatal
    }

    private struct Worker {
        var spec: WorkerSpec
        var state: State = .stopped
        var generation = 0
        var pid: Int32?
        var startedAt: ContinuousClock.Instant?
        var starts = 0
        /// Starts after a failure or an exit (the restart policy's, or a check's `restart:`): the
        /// number that says a worker is unwell. Operators' and planned restarts are counted apart.
        var restarts = 0
        /// Starts, stops and restarts an operator asked for (`opsctl workers`).
        var operatorActions = 0
        /// Restarts because a run reached its `max_lifetime`.
        var plannedRestarts = 0
        var lastExit: ExitStatus?
        var statusText: String?
        var message: String?
        var plan: RestartPlan
        /// Set when the current stop is ours (opsctl, reload, shutdown): the exit is not a failure.
        var stopRequested = false
        /// Set when opsd gave up on the process (never READY, watchdog): the exit is a failure.
        var failed = false
        var lastPing: ContinuousClock.Instant?
        /// An exit that arrived while `launch` was still waiting for the spawner to return the pid
        /// (the actor is reentrant across that await, and a child may exit at once).
        var earlyExit: ExitStatus?
        var timer: Task<Void, Never>?
        /// Set by every failure event; cleared, with `worker_recovered`, once a later run has
        /// stayed up for `reset_after`. Survives stops and starts by hand: a fatal worker an
        /// operator starts again recovers when it has proven itself, not when it is launched.
        var failing = false
        /// Waits out `reset_after` of a failing worker's run; separate from `timer`, which the
        /// watchdog of a notify worker holds meanwhile.
        var recovery: Task<Void, Never>?
        /// The planned restart at `max_lifetime`, armed while a run is running.
        var lifetime: Task<Void, Never>?
        var stopWaiters: [CheckedContinuation<Void, Never>] = []
        /// Why the run of this generation failed at its start, for `awaitStart` (one sentence).
        var startFailure: (generation: Int, reason: String)?

        init(spec: WorkerSpec) {
            self.spec = spec
            plan = RestartPlan(policy: spec.restart)
        }
    }

    private var workers: [String: Worker] = [:] {
        // Every change of state reaches systemd's STATUS= line (coalesced, never blocking).
        didSet {
            statusLine?.setWorkers(summary())
            if !stateWaiters.isEmpty { wakeStateWaiters() }
        }
    }
    /// Callers of `awaitStart`, resumed by the change of state they wait for or by their deadline.
    private var stateWaiters: [Int: StateWaiter] = [:]
    private var nextWaiter = 0
    private let statusLine: StatusPublisher?
    /// Start order; shutdown goes in reverse.
    private var order: [String] = []
    private let children: any ProcessSpawner
    private let output: ChildOutput
    private let notifier: SystemdNotifier
    private let logger: Logger
    private let events: any EventSink
    /// The workers' cgroups and rlimits (`limits:`); cgroups only under delegation.
    private var cgroups: WorkerCgroups
    /// Created in `startAll()`, after opsd holds its socket lock: a second opsd that fails to
    /// start must not replace the running one's socket.
    private var listener: NotifyListener?
    /// The workers' NOTIFY_SOCKET: a name in the abstract namespace (`@…`), because a file would
    /// have to be reachable by every worker's user, through opsd's private socket directory.
    /// Anyone may send to it, as to systemd's own notify socket: a message counts only for the
    /// worker whose process group sent it (`NotifyListener`). The random part keeps another
    /// process from binding the name first.
    let notifySocket = "@opsd-notify-\(getpid())-\(String(UInt64.random(in: .min ... .max), radix: 16))"
    private let notifications: AsyncStream<(group: Int32, fields: [String: String])>
    private let deliver: AsyncStream<(group: Int32, fields: [String: String])>.Continuation
    private let epoch = ContinuousClock.now
    private var locks = WorkerLocks()
    /// The process groups of running notify workers (each worker leads its own group), read by
    /// the notify socket's thread to drop strangers' messages before they reach the actor.
    private let notifyingGroups = ProcessGroups()
    /// The turn that serialises reloads (`apply`); no worker name can start with "/".
    private static let reloadTurn = "/reload"
    /// Set by `stopAll()`: shutdown has begun, and nothing starts any more.
    private var shuttingDown = false

    /// Creates a supervisor for `specs` that reports the workers' failures and recoveries to
    /// `events`; nothing starts before `startAll()`.
    public init(
        specs: [WorkerSpec], children: any ProcessSpawner, useJournal: Bool,
        eventLoops: any EventLoopGroup, notifier: SystemdNotifier, status: StatusPublisher? = nil, logger: Logger,
        events: any EventSink = DiscardingEventSink(), cgroups: CgroupDelegation = .unavailable("opsd was started without a cgroup of its own for workers")
    ) {
        self.cgroups = WorkerCgroups(cgroups)
        self.statusLine = status
        self.events = events
        self.children = children
        self.output = ChildOutput(useJournal: useJournal, eventLoops: eventLoops, logger: logger, field: "worker", recentBytes: ChildOutput.recentBytes)
        self.notifier = notifier
        self.logger = logger
        for spec in specs { workers[spec.name] = Worker(spec: spec) }
        order = StartOrder.names(specs)
        // Bounded: whatever a sender floods the socket with, the newest messages are what count.
        (notifications, deliver) = AsyncStream.makeStream(of: (group: Int32, fields: [String: String]).self, bufferingPolicy: .bufferingNewest(256))
    }

    // MARK: Control

    /// Opens the workers' notify socket (even when no worker uses it yet, so that a reload can add
    /// one), then starts every worker in configuration order, each after the workers its `after:`
    /// names (`StartOrder`).
    public func startAll() async throws {
        cgroups.reportUnapplied(order.compactMap { workers[$0]?.spec }, logger: logger)
        let deliver = self.deliver
        let groups = notifyingGroups
        listener = try NotifyListener(path: notifySocket) { group, fields in
            // Anyone may send to the socket; only a worker's own process group gets into the actor.
            // A worker may speak before the actor has recorded its pid: its group leader is then
            // still recognisable as opsd's child.
            guard groups.contains(group) || ProcessGroups.isLedByChild(group) else { return }
            deliver.yield((group, fields))
        }
        let messages = notifications
        Task { [weak self] in
            for await message in messages {
                guard let self else { return }
                await self.received(message.fields, fromGroup: message.group)
            }
        }
        for name in order {
            await acquire(name)
            await launchWhenReady(name)
            release(name)
        }
    }

    /// Stops every worker in reverse start order, each within its own stop timeout.
    public func stopAll() async {
        shuttingDown = true
        // A reload in progress finishes first (it launches nothing more now), so the workers it
        // added are in `order` and are stopped too. Same order of turns as `apply`: no deadlock.
        await acquire(Self.reloadTurn)
        defer { release(Self.reloadTurn) }
        for name in order.reversed() {
            await acquire(name)
            defer { release(name) }
            guard let worker = workers[name], worker.pid != nil || worker.state == .backoff else {
                workers[name]?.state = .stopped
                continue
            }
            // Ask systemd for the time this stop may take, so a long stop is not cut short.
            notifier.extendTimeout(by: worker.spec.stop.timeout + .seconds(5))
            await stopWorker(name)
        }
    }

    /// Starts a worker that is down (`opsctl workers start`); a fatal worker gets a fresh history.
    public func start(_ name: String) async throws(SupervisorError) {
        guard workers[name] != nil else { throw .unknownWorker(name, known: order) }
        await acquire(name)
        defer { release(name) }
        // Looked at only now, in our turn: a start that ran meanwhile left a running worker.
        guard var worker = workers[name], worker.pid == nil else { return }
        worker.plan.reset()
        worker.timer?.cancel()
        worker.operatorActions += 1
        workers[name] = worker
        await launch(name)
    }

    /// Stops a worker and keeps it down (`opsctl workers stop`).
    public func stop(_ name: String) async throws(SupervisorError) {
        guard workers[name] != nil else { throw .unknownWorker(name, known: order) }
        await acquire(name)
        defer { release(name) }
        workers[name]?.operatorActions += 1
        await stopWorker(name)
    }

    /// Stops a worker if it runs, then starts it (`opsctl workers restart`).
    public func restart(_ name: String) async throws(SupervisorError) {
        guard workers[name] != nil else { throw .unknownWorker(name, known: order) }
        await acquire(name)
        defer { release(name) }
        workers[name]?.operatorActions += 1
        await stopWorker(name)
        workers[name]?.plan.reset()
        await launch(name)
    }

    /// Sends `signal` to the worker's process group (`opsctl workers signal`), as its stop signal
    /// goes; false when it has no process to receive it.
    public func signal(_ name: String, _ signal: StopSignal) throws(SupervisorError) -> Bool {
        guard let worker = workers[name] else { throw .unknownWorker(name, known: order) }
        guard let pid = worker.pid else { return false }
        logger.info("worker signalled on request", metadata: ["worker": "\(name)", "signal": "\(signal.rawValue)", "pid": "\(pid)"])
        return kill(-pid, signal.number) == 0
    }

    /// Restarts a worker only if it runs (or is starting): what a check's `restart:` asks for.
    /// A worker an operator or a restore stopped, or that opsd gave up on, stays as it is.
    /// Returns whether it was restarted.
    @discardableResult
    public func restartIfRunning(_ name: String) async throws(SupervisorError) -> Bool {
        guard workers[name] != nil else { throw .unknownWorker(name, known: order) }
        await acquire(name)
        defer { release(name) }
        guard let worker = workers[name], worker.pid != nil, worker.state == .running || worker.state == .starting else {
            logger.notice("a check asked to restart a worker that is not running; it is left as it is", metadata: [
                "worker": "\(name)", "state": "\(workers[name].map { "\($0.state)" } ?? "removed")",
            ])
            return false
        }
        await stopWorker(name)
        workers[name]?.plan.reset()
        await launch(name, .unplanned)
        return true
    }

    /// Applies a changed `workers:` section: removed workers stop, new ones start, changed ones
    /// restart with their new definition, and unchanged ones are not touched.
    public func apply(_ specs: [WorkerSpec]) async -> [String] {
        // Two reloads at once would interleave their stops and starts; the second waits.
        await acquire(Self.reloadTurn)
        defer { release(Self.reloadTurn) }
        var touched: [String] = []
        let newNames = specs.map(\.name)
        for name in order where !newNames.contains(name) {
            await acquire(name)
            await stopWorker(name)
            workers[name] = nil
            if let cgroup = cgroups.forget(name), await !cgroup.killAndRemove() {
                logger.warning("the cgroup of a removed worker still holds processes; it is left in place", metadata: ["worker": "\(name)", "cgroup": "\(cgroup.directory)"])
            }
            release(name)
            touched.append(name)
        }
        order.removeAll { !newNames.contains($0) }
        let specsByName = Dictionary(specs.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
        for spec in StartOrder.names(specs).compactMap({ specsByName[$0] }) {
            await acquire(spec.name)
            defer { release(spec.name) }
            if let existing = workers[spec.name] {
                guard existing.spec != spec else { continue }
                await stopWorker(spec.name)
                var replacement = Worker(spec: spec)
                // Generations keep growing, so no event of the old definition can match the new one.
                replacement.generation = workers[spec.name]?.generation ?? existing.generation
                // A new definition is often the fix: it recovers once it has stayed up.
                replacement.failing = existing.failing
                workers[spec.name] = replacement
                await launchWhenReady(spec.name)
            } else {
                workers[spec.name] = Worker(spec: spec)
                await launchWhenReady(spec.name)
            }
            touched.append(spec.name)
        }
        order = StartOrder.names(specs)
        cgroups.reportUnapplied(specs, logger: logger)
        if !touched.isEmpty { logger.notice("workers changed by reload", metadata: ["workers": "\(touched.joined(separator: ", "))"]) }
        return touched
    }

    /// The workers' newest output outside journald (`opsctl logs`); nil under journald.
    public nonisolated var recentOutput: RecentOutput? { output.recent }

    /// The state of every worker, in start order.
    public func snapshot() -> [WorkerSnapshot] {
        order.compactMap { name in
            guard let worker = workers[name] else { return nil }
            let stats = worker.pid.flatMap(ProcessStats.read)
            // The whole cgroup's, where the worker has one: its descendants count too.
            let usage = worker.pid == nil ? nil : cgroups.usage(name)
            return WorkerSnapshot(
                name: name, state: worker.state, command: worker.spec.command, pid: worker.pid,
                uptime: worker.pid == nil ? nil : worker.startedAt.map { ContinuousClock.now - $0 },
                restarts: worker.restarts, operatorActions: worker.operatorActions, plannedRestarts: worker.plannedRestarts,
                lastExit: worker.lastExit, statusText: worker.statusText,
                residentBytes: usage?.memoryBytes ?? stats?.residentBytes, cpuTime: usage?.cpuTime ?? stats?.cpuTime,
                message: worker.message ?? (worker.pid == nil ? cgroups.exitReason(name) : nil)
            )
        }
    }

    /// How long `name` has been running (ready, for a notify worker: counted from its start);
    /// nil while it is not. Checks that watch the worker wait for it, and begin their start period
    /// at its start (`CheckSpec.watchedWorker`).
    public func runningFor(_ name: String) -> Duration? {
        guard let worker = workers[name], worker.state == .running, let started = worker.startedAt else { return nil }
        return ContinuousClock.now - started
    }

    /// One-line summary for systemd's STATUS=.
    public func summary() -> String {
        guard !workers.isEmpty else { return "no workers" }
        let running = workers.values.filter { $0.state == .running }.count
        let fatal = workers.values.filter { $0.state == .fatal }.map(\.spec.name).sorted()
        return "\(running)/\(workers.count) workers running" + (fatal.isEmpty ? "" : ", fatal: \(fatal.joined(separator: ", "))")
    }

    /// Answers at once: proof for the watchdog that the actor is not stuck.
    public func heartbeat() {}

    // MARK: Waiting for an outcome

    /// What became of a worker's newest start, as `awaitStart` saw it.
    public enum StartOutcome: Sendable, Equatable {
        /// Running (ready, for a notify worker), and, without notify, still up after the settle time.
        case running
        /// It did not get there; one sentence says why (`exec failed: …`, `exited at start with status 1`, …).
        case failed(String)
    }

    /// Waits until the worker's newest start has an outcome: running (ready, for a notify
    /// worker; a worker without notify must also stay up for `settle`, so one that exits at once
    /// is caught), or failed, or `timeout` ended. Event-driven: the waiter is resumed by the
    /// change of state itself, and only its own deadline timer runs meanwhile.
    public func awaitStart(_ name: String, timeout: Duration, settle: Duration) async -> StartOutcome {
        let deadline = ContinuousClock.now + timeout
        guard let first = workers[name] else { return .failed("worker \(name) was removed meanwhile") }
        let generation = first.generation
        // Leaves `starting` (or a later start replaced this one, which means this one failed).
        await waitForState(name, until: deadline) { $0.generation != generation || $0.state != .starting }
        if let outcome = failure(name, generation: generation) { return outcome }
        guard let worker = workers[name], !worker.spec.notify, let started = worker.startedAt else { return .running }
        // A worker without notify counts as started once it has stayed up for `settle`.
        let settled = started + settle
        await waitForState(name, until: min(settled, deadline)) { $0.generation != generation || $0.state != .running }
        if let outcome = failure(name, generation: generation) { return outcome }
        return ContinuousClock.now >= settled ? .running : .failed("still starting when the timeout ended")
    }

    /// The outcome when the start of `generation` did not reach (or stay) running; nil when it did.
    private func failure(_ name: String, generation: Int) -> StartOutcome? {
        guard let worker = workers[name] else { return .failed("worker \(name) was removed meanwhile") }
        if let failed = worker.startFailure, failed.generation == generation { return .failed(failed.reason) }
        // A later start replaced this one, so this one failed: say why, from the newest failure
        // when it was recorded (a crash loop may have gone round again before this waiter ran).
        if worker.generation != generation {
            if let failed = worker.startFailure, failed.generation > generation { return .failed(failed.reason) }
            return .failed("it failed at start and opsd started it again")
        }
        switch worker.state {
        case .running: return nil
        case .starting: return .failed("still starting when the timeout ended")
        case .stopping, .stopped: return .failed("it was stopped while starting")
        case .backoff, .exited, .fatal: return .failed(worker.message ?? "it ended at start")
        }
    }

    private struct StateWaiter {
        let name: String
        let until: (Worker) -> Bool
        let continuation: CheckedContinuation<Void, Never>
        let deadline: Task<Void, Never>
    }

    /// Returns once `until` holds for the worker (or it is removed), or at `deadline`.
    private func waitForState(_ name: String, until deadline: ContinuousClock.Instant, _ until: @escaping (Worker) -> Bool) async {
        guard let worker = workers[name], !until(worker), deadline > .now else { return }
        let id = nextWaiter
        nextWaiter += 1
        await withCheckedContinuation { continuation in
            let timer = Task { [weak self] in
                guard (try? await Task.sleep(until: deadline, clock: .loop)) != nil else { return }
                await self?.resumeStateWaiter(id)
            }
            stateWaiters[id] = StateWaiter(name: name, until: until, continuation: continuation, deadline: timer)
        }
    }

    private func resumeStateWaiter(_ id: Int) {
        guard let waiter = stateWaiters.removeValue(forKey: id) else { return }
        waiter.deadline.cancel()
        waiter.continuation.resume()
    }

    private func wakeStateWaiters() {
        for (id, waiter) in stateWaiters where workers[waiter.name].map(waiter.until) ?? true {
            resumeStateWaiter(id)
        }
    }

    // MARK: Starting

    /// Launches `name` now when the workers its `after:` names are running; otherwise marks it
    /// starting and launches it from a task of its own once they run (or have ended for good, or
    /// its `after_timeout` has passed), so that one worker's wait holds up no other. The caller
    /// holds the worker's turn.
    private func launchWhenReady(_ name: String) async {
        guard !shuttingDown, let worker = workers[name] else { return }
        let waitingFor = notRunning(worker.spec.after)
        guard !waitingFor.isEmpty else { return await launch(name) }
        workers[name]?.state = .starting
        workers[name]?.message = "waiting for \(waitingFor.joined(separator: ", ")) to run (after:)"
        logger.info("worker waits for the workers it starts after", metadata: ["worker": "\(name)", "after": "\(waitingFor.joined(separator: ", "))"])
        let generation = worker.generation
        let deadline = ContinuousClock.now + worker.spec.afterTimeout
        Task { await self.launchAfterDependencies(name, generation: generation, deadline: deadline) }
    }

    /// The waiting part of `launchWhenReady`: event-driven, through the state waiters. A start,
    /// stop or reload of the worker meanwhile ends the wait without a launch.
    private func launchAfterDependencies(_ name: String, generation: Int, deadline: ContinuousClock.Instant) async {
        guard let spec = workers[name]?.spec else { return }
        for dependency in spec.after {
            await waitForState(dependency, until: deadline) { $0.state == .running || $0.state == .fatal || $0.state == .exited }
        }
        await acquire(name)
        defer { release(name) }
        guard let worker = workers[name], worker.generation == generation, worker.pid == nil, worker.state == .starting else { return }
        let missing = notRunning(worker.spec.after)
        if !missing.isEmpty {
            logger.warning("worker starts although workers it comes after are not running", metadata: [
                "worker": "\(name)", "after": "\(missing.joined(separator: ", "))", "after_timeout": "\(DurationText.format(worker.spec.afterTimeout))",
            ])
        }
        await launch(name)
    }

    /// Those of `names` that are workers and are not running (ready, for notify workers).
    private func notRunning(_ names: [String]) -> [String] {
        names.filter { workers[$0].map { $0.state != .running } ?? false }
    }

    /// Why a worker is launched: which of its counters the start adds to.
    private enum LaunchReason {
        /// opsd's start, a reload, or an operator's start (counted by the caller).
        case first
        /// After a failure or an exit, by the restart policy or a check's `restart:`.
        case unplanned
        /// The run reached its `max_lifetime`.
        case planned
    }

    /// Starts the worker's process. The caller holds the worker's turn (`acquire`), so nothing
    /// else starts or stops this worker while the spawner works.
    private func launch(_ name: String, _ reason: LaunchReason = .first) async {
        guard !shuttingDown, var worker = workers[name] else { return }
        worker.timer?.cancel()
        worker.generation += 1
        worker.stopRequested = false
        worker.failed = false
        worker.message = nil
        worker.statusText = nil
        worker.earlyExit = nil
        let generation = worker.generation
        let spec = worker.spec

        var environment = spec.environment
        do {
            environment.merge(try spec.variables(from: ProcessInfo.processInfo.environment)) { $1 }
        } catch {
            worker.message = error.description
            worker.startFailure = (generation, error.description)
            workers[name] = worker
            return failedToStart(name, generation: generation)
        }
        if spec.notify { environment["NOTIFY_SOCKET"] = notifySocket }
        if let watchdog = spec.watchdog { environment["WATCHDOG_USEC"] = "\(SystemdNotifier.microseconds(watchdog))" }
        // The program and the user are looked up on the spawner thread, not on this actor's loop;
        // a missing one comes back as the spawn's error, below.
        var recipe = LaunchRecipe(
            command: spec.command, environment: environment, workingDirectory: spec.workingDirectory,
            user: spec.user, group: spec.group, umask: spec.umask, output: output.descriptor(for: name))
        cgroups.prepare(&recipe, for: spec, logger: logger)

        worker.plan.started(at: ContinuousClock.now - epoch)
        worker.starts += 1
        switch reason {
        case .first: break
        case .unplanned: worker.restarts += 1
        case .planned: worker.plannedRestarts += 1
        }
        worker.state = .starting
        workers[name] = worker
        do {
            let pid = try await children.launch(recipe.request()) { [weak self] status in
                guard let self else { return }
                Task { await self.exited(name, generation: generation, status: status) }
            }
            guard workers[name]?.generation == generation else {
                // Cannot happen while the turn is held; should it ever, no process may run untracked.
                kill(-pid, SIGKILL)
                return
            }
            workers[name]?.pid = pid
            if spec.notify { notifyingGroups.insert(pid) }
            workers[name]?.startedAt = .now
            workers[name]?.lastPing = .now
            workers[name]?.state = spec.notify ? .starting : .running
            logger.info("worker started", metadata: ["worker": "\(name)", "pid": "\(pid)"])
            if let status = workers[name]?.earlyExit {
                workers[name]?.earlyExit = nil
                return exited(name, generation: generation, status: status)
            }
            if spec.notify {
                arm(name, after: spec.startTimeout) { await $0.startTimedOut(name, generation: generation) }
            } else {
                armRecovery(name)
                armLifetime(name)
            }
        } catch {
            // Nothing was forked when a name was not found: no start to count (as before the
            // lookups moved to the spawner thread).
            if error.isLookupFailure {
                workers[name]?.starts -= 1
                if reason == .unplanned { workers[name]?.restarts -= 1 }
            }
            workers[name]?.message = error.description
            workers[name]?.startFailure = (generation, "exec failed: \(error.description)")
            failedToStart(name, generation: generation)
        }
    }

    private func failedToStart(_ name: String, generation: Int) {
        guard let worker = workers[name] else { return }
        logger.error("worker could not be started", metadata: ["worker": "\(name)", "reason": "\(worker.message ?? "")"])
        decideAfterExit(name, success: false, ranFor: .zero, exit: nil, reported: false)
    }

    // MARK: Exits

    private func exited(_ name: String, generation: Int, status: ExitStatus) {
        guard var worker = workers[name], worker.generation == generation else { return }
        guard let pid = worker.pid else {
            workers[name]?.earlyExit = status
            return
        }
        // Whatever the worker left in its process group goes with it: grandchildren never outlive it.
        // In its cgroup, a descendant that left the group with setsid goes too.
        kill(-pid, SIGKILL)
        cgroups.ended(name, spec: worker.spec, status: status)
        worker.timer?.cancel()
        worker.recovery?.cancel()
        worker.lifetime?.cancel()
        worker.pid = nil
        notifyingGroups.remove(pid)
        worker.lastExit = status
        let ranFor = worker.startedAt.map { ContinuousClock.now - $0 } ?? .zero
        let waiters = worker.stopWaiters
        worker.stopWaiters = []
        workers[name] = worker
        waiters.forEach { $0.resume() }

        if worker.stopRequested {
            logger.info("worker stopped", metadata: ["worker": "\(name)", "exit": "\(status)"])
            workers[name]?.state = .stopped
            return
        }
        let success = status.isSuccess && !worker.failed
        if !worker.failed {
            let how = switch status {
            case .exited(let code): "exited at start with status \(code)"
            case .signaled: "ended at start by \(status)"
            }
            workers[name]?.startFailure = (generation, how)
        }
        logger.log(level: success ? .info : .warning, "worker exited", metadata: ["worker": "\(name)", "exit": "\(status)", "pid": "\(pid)"])
        // The watchdog or the start timeout already reported why opsd ended this run.
        decideAfterExit(name, success: success, ranFor: ranFor, exit: status, reported: worker.failed)
    }

    /// Applies the restart policy to a run that ended by itself (`exit`; nil: it could not be
    /// started) and reports it, unless `reported` already: a failure, restarted or left down, is
    /// `worker_exited`; the exit that exhausts `burst:` is `worker_fatal`. A clean exit that
    /// `restart: always` restarts is no failure: it emits nothing (a worker that exits by design
    /// would page someone on every run), unless it exhausts `burst:`.
    private func decideAfterExit(_ name: String, success: Bool, ranFor: Duration, exit: ExitStatus?, reported: Bool) {
        guard var worker = workers[name] else { return }
        let now = ContinuousClock.now - epoch
        let decision = worker.plan.decide(success: success, startedAt: now - ranFor, at: now)
        let generation = worker.generation
        var fields = Self.fields(exit: exit, ranFor: ranFor)
        if exit == nil, let reason = worker.message { fields["error"] = reason }
        let cgroupReason = exit == nil ? nil : cgroups.exitReason(name)
        if let cgroupReason { fields["reason"] = cgroupReason }
        let how = cgroupReason.map { "was \($0)" } ?? exit.map { "exited with \($0)" } ?? "could not be started"
        switch decision {
        case .stayDown:
            worker.state = .exited
            if !success && !reported {
                worker.failing = true
                emit(.workerExited, name, "worker \(name) \(how); its restart policy leaves it down", fields)
            }
            workers[name] = worker
        case .fatal:
            worker.failing = true
            fields["restarts"] = "\(worker.restarts)"
            fields["window_seconds"] = Self.seconds(worker.spec.restart.burst.window)
            fields["burst"] = "\(worker.spec.restart.burst.count)"
            emit(.workerFatal, name, "worker \(name) \(how) and has failed \(worker.spec.restart.burst.count) starts within \(DurationText.format(worker.spec.restart.burst.window)); opsd stopped restarting it", fields)
            worker.state = .fatal
            worker.message = "failed \(worker.spec.restart.burst.count) starts within \(DurationText.format(worker.spec.restart.burst.window)); fix the cause, then `opsctl workers start \(name)`"
            workers[name] = worker
            logger.error("worker is fatal: it keeps failing, so opsd stopped restarting it", metadata: [
                "worker": "\(name)", "last_exit": "\(worker.lastExit?.description ?? "none")",
            ])
        case .restart(let delay) where delay == .zero:
            if !success && !reported {
                worker.failing = true
                fields["restart_in_seconds"] = "0"
                emit(.workerExited, name, "worker \(name) \(how); restarting it now", fields)
            }
            workers[name] = worker
            Task { await self.relaunch(name, generation: generation) }
        case .restart(let delay):
            worker.state = .backoff
            if !success && !reported {
                worker.failing = true
                fields["restart_in_seconds"] = Self.seconds(delay)
                emit(.workerExited, name, "worker \(name) \(how); restarting it in \(DurationText.format(delay))", fields)
            }
            workers[name] = worker
            logger.info("worker restarts after a delay", metadata: ["worker": "\(name)", "delay": "\(DurationText.format(delay))"])
            arm(name, after: delay) { await $0.relaunch(name, generation: generation) }
        }
    }

    // MARK: Stopping

    /// Sends the stop signal to the worker's process group and waits for its exit; SIGKILL after
    /// the stop timeout.
    private func stopWorker(_ name: String) async {
        guard var worker = workers[name] else { return }
        worker.timer?.cancel()
        worker.recovery?.cancel()
        worker.lifetime?.cancel()
        guard let pid = worker.pid else {
            worker.generation += 1  // cancels a pending backoff restart
            worker.state = .stopped
            workers[name] = worker
            return
        }
        worker.stopRequested = true
        worker.state = .stopping
        workers[name] = worker
        kill(-pid, worker.spec.stop.signal.number)
        cgroups.signal(name, worker.spec.stop.signal.number)
        let generation = worker.generation
        let timeout = worker.spec.stop.timeout
        arm(name, after: timeout) { supervisor in await supervisor.killIfStill(name, generation: generation, reason: "did not stop within \(DurationText.format(timeout))") }
        await withCheckedContinuation { continuation in
            if workers[name]?.pid == nil { continuation.resume() } else { workers[name]?.stopWaiters.append(continuation) }
        }
    }

    private func killIfStill(_ name: String, generation: Int, reason: String) {
        guard let worker = workers[name], worker.generation == generation, let pid = worker.pid else { return }
        logger.warning("worker killed: \(reason)", metadata: ["worker": "\(name)", "pid": "\(pid)"])
        kill(-pid, SIGKILL)
        cgroups.ended(name, spec: worker.spec, status: nil)
    }

    // MARK: sd_notify

    private func received(_ fields: [String: String], fromGroup group: Int32) {
        guard let name = order.first(where: { workers[$0]?.pid == group }), let worker = workers[name], worker.spec.notify else { return }
        if let status = fields["STATUS"] { workers[name]?.statusText = status }
        if fields["READY"] == "1", worker.state == .starting {
            workers[name]?.state = .running
            workers[name]?.timer?.cancel()
            logger.info("worker is ready", metadata: ["worker": "\(name)"])
            armWatchdog(name)
            armRecovery(name)
            armLifetime(name)
        }
        if fields["WATCHDOG"] == "1" {
            workers[name]?.lastPing = .now
        }
    }

    private func armWatchdog(_ name: String) {
        guard let worker = workers[name], let timeout = worker.spec.watchdog, let last = worker.lastPing else { return }
        let generation = worker.generation
        let deadline = last + timeout
        arm(name, after: deadline - .now) { await $0.watchdogCheck(name, generation: generation) }
    }

    private func watchdogCheck(_ name: String, generation: Int) {
        guard var worker = workers[name], worker.generation == generation, worker.state == .running, let pid = worker.pid,
              let timeout = worker.spec.watchdog, let last = worker.lastPing else { return }
        guard ContinuousClock.now - last >= timeout else { return armWatchdog(name) }
        // Hung: abort it (a core dump shows where), SIGKILL if that does not end it, then the policy decides.
        logger.error("worker is hung: no WATCHDOG=1 within its watchdog timeout; aborting it", metadata: [
            "worker": "\(name)", "timeout": "\(DurationText.format(timeout))",
        ])
        worker.failed = true
        worker.failing = true
        worker.state = .stopping
        workers[name] = worker
        emit(.workerWatchdog, name, "worker \(name) sent no WATCHDOG=1 within \(DurationText.format(timeout)); opsd aborted it", [
            "timeout_seconds": Self.seconds(timeout), "pid": "\(pid)",
        ])
        kill(-pid, SIGABRT)
        let grace = worker.spec.stop.timeout
        arm(name, after: grace) { await $0.killIfStill(name, generation: generation, reason: "did not end after SIGABRT") }
    }

    private func startTimedOut(_ name: String, generation: Int) {
        guard var worker = workers[name], worker.generation == generation, worker.state == .starting, let pid = worker.pid else { return }
        logger.error("worker did not send READY=1 within its start timeout; stopping it", metadata: [
            "worker": "\(name)", "timeout": "\(DurationText.format(worker.spec.startTimeout))",
        ])
        worker.failed = true
        worker.failing = true
        worker.state = .stopping
        worker.startFailure = (generation, "start timeout: no READY=1 within \(DurationText.format(worker.spec.startTimeout)) (start_timeout)")
        workers[name] = worker
        emit(.workerStartTimeout, name, "worker \(name) did not send READY=1 within \(DurationText.format(worker.spec.startTimeout)); opsd stopped it", [
            "timeout_seconds": Self.seconds(worker.spec.startTimeout), "pid": "\(pid)",
        ])
        kill(-pid, worker.spec.stop.signal.number)
        let timeout = worker.spec.stop.timeout
        arm(name, after: timeout) { await $0.killIfStill(name, generation: generation, reason: "did not stop within \(DurationText.format(timeout))") }
    }

    // MARK: Events

    /// A failing worker that has just become running (ready, for a notify worker) recovers if
    /// this run stays up for its `reset_after`: the same test of a healthy run the restart
    /// arithmetic uses. Nothing is armed for a worker that is not failing: no idle wakeups.
    private func armRecovery(_ name: String) {
        guard let worker = workers[name], worker.failing, worker.state == .running else { return }
        let generation = worker.generation
        let wait = worker.spec.restart.resetAfter
        workers[name]?.recovery?.cancel()
        workers[name]?.recovery = Task { [weak self] in
            guard (try? await Task.sleep(for: wait, clock: .loop)) != nil, let self else { return }
            await self.recovered(name, generation: generation)
        }
    }

    /// Arms the planned restart of a run that has just become running: at `max_lifetime` after
    /// its start, plus a random part of the jitter. One sleeping task per worker that has one.
    private func armLifetime(_ name: String) {
        guard let worker = workers[name], let lifetime = worker.spec.maxLifetime, worker.state == .running,
              let started = worker.startedAt else { return }
        let jitter = worker.spec.maxLifetimeJitter ?? lifetime / 10
        let due = started + lifetime + (jitter > .zero ? .seconds(Double.random(in: 0...jitter.seconds)) : .zero)
        let generation = worker.generation
        workers[name]?.lifetime?.cancel()
        workers[name]?.lifetime = Task { [weak self] in
            guard (try? await Task.sleep(for: due - .now, clock: .loop)) != nil, let self else { return }
            await self.reachedLifetime(name, generation: generation)
        }
    }

    /// Restarts a run that reached its `max_lifetime`: a stop and a start, counted as planned.
    private func reachedLifetime(_ name: String, generation: Int) async {
        await acquire(name)
        defer { release(name) }
        guard let worker = workers[name], worker.generation == generation, worker.pid != nil, worker.state == .running else { return }
        let age = worker.startedAt.map { ContinuousClock.now - $0 } ?? .zero
        logger.notice("worker reached its max_lifetime; restarting it as planned", metadata: [
            "worker": "\(name)", "uptime": "\(DurationText.format(age))", "max_lifetime": "\(DurationText.format(worker.spec.maxLifetime ?? .zero))",
        ])
        await stopWorker(name)
        await launch(name, .planned)
    }

    private func recovered(_ name: String, generation: Int) {
        guard let worker = workers[name], worker.generation == generation, worker.failing, worker.state == .running,
              worker.pid != nil else { return }
        workers[name]?.failing = false
        workers[name]?.recovery = nil
        let uptime = worker.startedAt.map { ContinuousClock.now - $0 } ?? worker.spec.restart.resetAfter
        emit(.workerRecovered, name, "worker \(name) has run for \(DurationText.format(worker.spec.restart.resetAfter)) since it failed", [
            "uptime_seconds": Self.seconds(uptime), "pid": worker.pid.map { "\($0)" } ?? "",
        ])
    }

    private func emit(_ kind: EventKind, _ name: String, _ message: String, _ fields: [String: String]) {
        events.emit(Event(kind, subject: Subject(.worker, name), message: message, fields: fields))
    }

    /// How a run ended, for an event: `exit_code` or `signal`, and `uptime_seconds`.
    private static func fields(exit: ExitStatus?, ranFor: Duration) -> [String: String] {
        var fields = ["uptime_seconds": seconds(ranFor)]
        switch exit {
        case .exited(let code): fields["exit_code"] = "\(code)"
        case .signaled(let signal): fields["signal"] = "\(signal)"
        case nil: break
        }
        return fields
    }

    /// Seconds to the millisecond, as a field value (`2.5`).
    private static func seconds(_ duration: Duration) -> String {
        "\((duration.seconds * 1000).rounded() / 1000)"
    }

    // MARK: Helpers

    /// A restart the supervisor decided on itself (after a crash, or when a backoff ends). It waits
    /// for the worker's turn and is dropped if anything started or stopped the worker meanwhile:
    /// both change the generation.
    private func relaunch(_ name: String, generation: Int) async {
        await acquire(name)
        defer { release(name) }
        guard let worker = workers[name], worker.generation == generation, worker.pid == nil else { return }
        await launch(name, .unplanned)
    }

    /// Waits for `name`'s turn (see `WorkerLocks`); every `acquire` is paired with a `release`.
    private func acquire(_ name: String) async {
        guard !locks.tryAcquire(name) else { return }
        await withCheckedContinuation { locks.enqueue(name, $0) }
    }

    private func release(_ name: String) {
        locks.release(name)
    }

    /// Runs `action` after `delay` unless the worker's timer is replaced or cancelled first.
    private func arm(_ name: String, after delay: Duration, _ action: @escaping @Sendable (Supervisor) async -> Void) {
        workers[name]?.timer?.cancel()
        workers[name]?.timer = Task { [weak self] in
            guard (try? await Task.sleep(for: delay, clock: .loop)) != nil, let self else { return }
            await action(self)
        }
    }
}

/// A control request about workers that cannot be carried out.
public enum SupervisorError: Error, CustomStringConvertible, Equatable {
    /// No worker has this name.
    case unknownWorker(String, known: [String])

    /// One sentence that says what is wrong and what to do.
    public var description: String {
        switch self {
        case .unknownWorker(let name, let known):
            "no worker is named \"\(name)\"; configured workers: \(known.isEmpty ? "none" : known.joined(separator: ", "))"
        }
    }
}

/// A set of process groups shared between the actor (which changes it) and a receiving thread.
final class ProcessGroups: Sendable {
    private let groups = Mutex<Set<Int32>>([])

    func insert(_ group: Int32) { groups.withLock { _ = $0.insert(group) } }
    func remove(_ group: Int32) { groups.withLock { _ = $0.remove(group) } }
    func contains(_ group: Int32) -> Bool { groups.withLock { $0.contains(group) } }

    /// True when the leader of `group` is a child of this process (`/proc/GROUP/stat`'s parent).
    static func isLedByChild(_ group: Int32) -> Bool {
        ProcessStats.parent(of: group) == getpid()
    }
}
