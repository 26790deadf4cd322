import FoundationEssentials
import Glibc
public import OpsConfig
import Scheduling
import DaemonRuntime

/// A check as configured: its kind, thresholds and timeout. `run()` never fails: whatever goes
/// wrong becomes an UNKNOWN result that says why.
public struct ConfiguredCheck: Sendable {
    /// The configuration it was made from.
    public let spec: CheckSpec
    /// The measurement.
    public let check: any Check

    /// Pairs a spec with its measurement (see `CheckFactory` for the usual way to get one).
    public init(spec: CheckSpec, check: any Check) {
        self.spec = spec
        self.check = check
    }

    /// The check's name.
    public var name: String { spec.name }

    /// Runs the check once, within its timeout, and applies its thresholds.
    public func run() async -> CheckResult {
        let time = Date()
        let started = ContinuousClock.now
        let deadline = started + spec.timeout
        let check = self.check
        let outcome = await withDeadline(deadline) { try await check.observe(deadline: deadline) }
        let elapsed = ContinuousClock.now - started
        let seconds = elapsed.seconds
        switch outcome {
        case nil:
            return CheckResult(
                state: .unknown, message: "did not finish within its timeout of \(DurationText.format(spec.timeout))",
                time: time, durationSeconds: seconds
            )
        case .failure(let error):
            return CheckResult(state: .unknown, message: "\(error)", time: time, durationSeconds: seconds)
        case .success(let observation):
            let (state, note) = judge(observation)
            var message = observation.summary
            if let note { message += " (\(note))" }
            return CheckResult(
                state: state, message: message, value: observation.value, unit: observation.unit,
                metrics: observation.metrics, time: time, durationSeconds: seconds
            )
        }
    }

    /// The state of an observation: the kind's own verdict, made worse by the thresholds.
    func judge(_ observation: Observation) -> (CheckState, String?) {
        var state = observation.state ?? .ok
        var note: String?
        if let value = observation.value {
            if let crit = spec.crit, crit.alerts(on: value) {
                state = max(state, .crit)
                note = "crit \(crit)"
            } else if let warn = spec.warn, warn.alerts(on: value) {
                state = max(state, .warn)
                note = "warn \(warn)"
            }
        }
        return (state, note)
    }
}
