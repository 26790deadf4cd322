import Foundation
import Logging
import Testing
import TestSupport
@testable import Checks
import OpsConfig
import StateStore
import Synchronization

@Suite("hysteresis, history and the monitor")
struct StateTests {
    @Test("a state changes only after N consecutive results; recovery after M")
    func hysteresis() {
        var machine = Hysteresis(failAfter: 3, recoverAfter: 2)
        // (raw result, confirmed state afterwards, whether it changed)
        let steps: [(CheckState, CheckState?, Bool)] = [
            (.ok, .ok, true),            // leaving pending with OK is immediate
            (.crit, .ok, false), (.crit, .ok, false), (.ok, .ok, false),   // two CRIT then OK: no change, streak reset
            (.crit, .ok, false), (.crit, .ok, false), (.crit, .crit, true),
            (.ok, .crit, false), (.warn, .crit, false), (.ok, .crit, false), // mixed better results do not add up
            (.ok, .ok, true),
            (.unknown, .ok, false), (.unknown, .ok, false), (.unknown, .unknown, true),
        ]
        for (index, (raw, expected, changes)) in steps.enumerated() {
            let change = machine.record(raw)
            #expect(machine.state == expected, "step \(index)")
            #expect((change != nil) == changes, "step \(index)")
        }
        var pending = Hysteresis(failAfter: 2, recoverAfter: 1)
        #expect(pending.record(.crit) == nil && pending.state == nil)
        #expect(pending.record(.crit) == Hysteresis.Transition(previous: nil) && pending.state == .crit)
    }

    @Test("history keeps the newest N results per check and the last confirmed state")
    func history() async throws {
        let scratch = try Scratch()
        defer { scratch.remove() }
        let database = try await StateDatabase.open(stateDirectory: scratch.path)
        let history = CheckHistory(database: database, keep: 10)
        #expect(try await CheckHistory(database: database, keep: 10).count(check: "a") == 0)  // the migration runs once
        for index in 0..<25 {
            let result = CheckResult(state: index < 20 ? .ok : .crit, message: "run \(index)", value: Double(index), time: Date(), durationSeconds: 0.001)
            try await history.append(check: "a", result: result, confirmed: index < 22 ? .ok : .crit)
            try await history.append(check: "b", result: result, confirmed: .warn)
        }
        #expect(try await history.count(check: "a") == 10)
        #expect(try await history.count(check: "b") == 10)
        let recent = try await history.recent(check: "a", limit: 3)
        #expect(recent.map(\.message) == ["run 24", "run 23", "run 22"])
        #expect(try await history.confirmedStates() == ["a": .crit, "b": .warn])
    }

    @Test("the monitor reports confirmed changes once, and restarts a worker after N CRIT, then counts again")
    func monitor() async throws {
        let changes = Mutex<[String]>([])
        let restarts = Mutex<[String]>([])
        let spec = CheckSpec(name: "api", kind: .memory, failAfter: 2, recoverAfter: 1, restart: CheckRestart(worker: "app", after: 3))
        let monitor = CheckMonitor(
            specs: [spec], history: nil, logger: Logger(label: "test"),
            onChange: { change in changes.withLock { $0.append("\(change.previous?.rawValue ?? "pending")→\(change.state.rawValue)") } },
            restartWorker: { worker in restarts.withLock { $0.append(worker) } }
        )
        #expect(await monitor.reports().first?.state == nil)
        for state in [CheckState.ok, .crit, .crit, .crit, .crit, .crit, .crit, .ok] {
            await monitor.record("api", CheckResult(state: state, message: state.rawValue, time: Date(), durationSeconds: 0))
        }
        #expect(changes.withLock { $0 } == ["pending→ok", "ok→crit", "crit→ok"])
        #expect(restarts.withLock { $0 } == ["app", "app"])
        let report = try #require(await monitor.reports(["api"]).first)
        #expect(report.state == .ok && report.latest?.message == "ok")
        #expect(await monitor.reports(["other"]).isEmpty)

        // A reload keeps the state of a check whose kind is unchanged, and starts new ones pending.
        await monitor.update(specs: [
            CheckSpec(name: "api", kind: .memory, every: .seconds(5)),
            CheckSpec(name: "new", kind: .disk(paths: ["/"])),
        ])
        #expect(await monitor.reports().map(\.name) == ["api", "new"])
        #expect(await monitor.reports(["api"]).first?.state == .ok)
        #expect(await monitor.reports(["api"]).first?.every == .seconds(5))
        #expect(await monitor.reports(["new"]).first?.state == nil)
        await monitor.update(specs: [CheckSpec(name: "api", kind: .disk(paths: ["/"]))])
        #expect(await monitor.reports().first?.state == nil)
    }
}

@Suite("no false alarms while things start")
struct StartGraceTests {
    static func result(_ state: CheckState, at time: Date) -> CheckResult {
        CheckResult(state: state, message: state.rawValue, time: time, durationSeconds: 0)
    }

    @Test("start_period: bad results within it do not count until the check has passed once; after it they do")
    func startPeriod() async throws {
        let changes = Mutex<[String]>([])
        let t0 = Date(timeIntervalSince1970: 1_800_000_000)
        let spec = CheckSpec(name: "api", kind: .memory, failAfter: 1)
        var graced = spec
        graced.startPeriod = .seconds(120)
        let monitor = CheckMonitor(
            specs: [graced], history: nil, logger: Logger(label: "test"),
            onChange: { change in changes.withLock { $0.append("\(change.check):\(change.state.rawValue)") } }, now: t0
        )
        await monitor.record("api", Self.result(.crit, at: t0 + 10))
        await monitor.record("api", Self.result(.crit, at: t0 + 119))
        #expect(changes.withLock { $0 }.isEmpty)
        // Shown, though not counted.
        #expect(await monitor.reports(["api"]).first?.latest?.state == .crit)
        #expect(await monitor.reports(["api"]).first?.state == nil)
        await monitor.record("api", Self.result(.crit, at: t0 + 121))
        #expect(changes.withLock { $0 } == ["api:crit"])

        // A pass ends the start period early: the next failure counts at once.
        let early = CheckMonitor(
            specs: [graced], history: nil, logger: Logger(label: "test"),
            onChange: { change in changes.withLock { $0.append("early:\(change.state.rawValue)") } }, now: t0
        )
        await early.record("api", Self.result(.ok, at: t0 + 5))
        await early.record("api", Self.result(.crit, at: t0 + 10))
        #expect(changes.withLock { $0 } == ["api:crit", "early:ok", "early:crit"])

        // Without start_period (and no worker), today's behaviour: the first failure counts.
        let plain = CheckMonitor(
            specs: [spec], history: nil, logger: Logger(label: "test"),
            onChange: { change in changes.withLock { $0.append("plain:\(change.state.rawValue)") } }, now: t0
        )
        await plain.record("api", Self.result(.crit, at: t0 + 1))
        #expect(changes.withLock { $0 }.last == "plain:crit")
    }

    @Test("a check that watches a worker waits while it is not running, then gives it a start period from its start; no restart meanwhile")
    func watchesWorker() async throws {
        let changes = Mutex<[String]>([])
        let restarts = Mutex(0)
        let runningFor = Mutex<Duration?>(nil)
        let spec = CheckSpec(name: "api", kind: .memory, failAfter: 1, restart: CheckRestart(worker: "web", after: 1))
        #expect(spec.watchedWorker == "web" && spec.effectiveStartPeriod == CheckSpec.defaultWorkerStartPeriod)
        // Taken on long ago: only the worker's start can hold the results back.
        let monitor = CheckMonitor(
            specs: [spec], history: nil, logger: Logger(label: "test"),
            onChange: { change in changes.withLock { $0.append(change.state.rawValue) } },
            restartWorker: { _ in restarts.withLock { $0 += 1 } },
            workerRunningFor: { _ in runningFor.withLock { $0 } }, now: Date(timeIntervalSinceNow: -3600)
        )
        // Not running (stopped, backoff, fatal): its own events say so; the check stays quiet.
        await monitor.record("api", Self.result(.crit, at: Date()))
        // Just started: within its first minute.
        runningFor.withLock { $0 = .seconds(5) }
        await monitor.record("api", Self.result(.crit, at: Date()))
        #expect(changes.withLock { $0 }.isEmpty && restarts.withLock { $0 } == 0)
        // Running for two minutes and still failing: that counts, and restarts it.
        runningFor.withLock { $0 = .seconds(120) }
        await monitor.record("api", Self.result(.crit, at: Date()))
        #expect(changes.withLock { $0 } == ["crit"] && restarts.withLock { $0 } == 1)
    }
}

@Suite("the runner")
struct RunnerTests {
    /// A check that blocks until released, counting how many of its runs overlap.
    final class GatedCheck: Check {
        let started = Mutex(0)
        let running = Mutex((now: 0, most: 0))
        let gate = Mutex<CheckedContinuation<Void, Never>?>(nil)

        func observe(deadline: ContinuousClock.Instant) async throws -> Observation {
            started.withLock { $0 += 1 }
            running.withLock { $0.now += 1; $0.most = max($0.most, $0.now) }
            await withCheckedContinuation { continuation in gate.withLock { $0 = continuation } }
            running.withLock { $0.now -= 1 }
            return Observation(summary: "released")
        }

        func release() -> Bool {
            guard let continuation = gate.withLock({ state -> CheckedContinuation<Void, Never>? in defer { state = nil }; return state }) else { return false }
            continuation.resume()
            return true
        }
    }

    @Test("a blocked check delays no other check and never overlaps itself")
    func independence() async throws {
        let gated = GatedCheck()
        let counts = Mutex<[String: Int]>([:])
        let runner = CheckRunner(checks: [
            ConfiguredCheck(spec: CheckSpec(name: "slow", kind: .memory, every: .milliseconds(10), timeout: .seconds(300)), check: gated),
            ConfiguredCheck(spec: CheckSpec(name: "fast", kind: .memory, every: .milliseconds(10)), check: MemoryCheck()),
        ]) { name, _ in counts.withLock { $0[name, default: 0] += 1 } }
        let task = Task { await runner.run() }
        defer { task.cancel() }
        // While "slow" is blocked in its first run, "fast" keeps producing results.
        try await eventually("fast ran 5 times") { counts.withLock { $0["fast", default: 0] >= 5 } ? true : nil }
        #expect(counts.withLock { $0["slow"] } == nil)
        #expect(gated.started.withLock { $0 } == 1)
        try await eventually("slow's first run is released") { gated.release() ? true : nil }
        try await eventually("slow ran again") { gated.started.withLock { $0 } >= 2 ? true : nil }
        try await eventually("slow's second run is released") { gated.release() ? true : nil }
        try await eventually("slow reported twice") { counts.withLock { $0["slow", default: 0] } >= 2 ? true : nil }
        #expect(gated.running.withLock { $0.most } == 1)
    }

    /// A check whose measurement blocks its thread in the kernel until released, as statvfs on a
    /// hung mount or SQLite waiting on a lock does.
    final class StuckInKernel: Check {
        let gate = DispatchSemaphore(value: 0)

        func observe(deadline: ContinuousClock.Instant) async throws -> Observation {
            try await blocking { [gate] in gate.wait() }
            return Observation(summary: "released")
        }
    }

    @Test("checks stuck on their threads (more than there are cores) delay no other check")
    func stuckThreads() async throws {
        // One more stuck check than NIO's blocking pool has threads: with a shared pool, the
        // disk check's statvfs would queue behind them.
        let stuck = (0...ProcessInfo.processInfo.activeProcessorCount).map { _ in StuckInKernel() }
        let counts = Mutex<[String: Int]>([:])
        let runner = CheckRunner(checks: stuck.enumerated().map { index, check in
            ConfiguredCheck(spec: CheckSpec(name: "stuck\(index)", kind: .memory, every: .milliseconds(10), timeout: .seconds(300)), check: check)
        } + [
            ConfiguredCheck(spec: CheckSpec(name: "disk", kind: .disk(paths: ["/"]), every: .milliseconds(10)), check: DiskCheck(paths: ["/"])),
        ]) { name, _ in counts.withLock { $0[name, default: 0] += 1 } }
        let task = Task { await runner.run() }
        try await eventually("the disk check ran 5 times") { counts.withLock { $0["disk", default: 0] >= 5 } ? true : nil }
        #expect(counts.withLock { $0.keys.filter { $0.hasPrefix("stuck") } }.isEmpty)
        task.cancel()
        for check in stuck { check.gate.signal() }
    }

    @Test("jitter stays within its bounds")
    func jitter() {
        for _ in 0..<200 {
            #expect((Duration.zero...Duration.seconds(2)).contains(CheckRunner.initialDelay(.seconds(60))))
            #expect((Duration.seconds(-3)...Duration.seconds(3)).contains(CheckRunner.jitter(.seconds(60))))
            #expect(CheckRunner.initialDelay(.milliseconds(100)) <= .milliseconds(10))
        }
    }
}
