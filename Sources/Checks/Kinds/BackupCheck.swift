import BackupRecords
import FoundationEssentials
import Glibc
import OpsConfig

/// `backup: {max_age: 26h}`: is there a recent backup, and has it left the machine? Reads the
/// history that every backup run records (opsd's scheduled ones, `opsctl backup`, the timer's),
/// so a nightly backup that silently stopped working turns this CRIT.
struct BackupCheck: Check {
    let spec: BackupCheckSpec
    /// opsd's history in its one state database; nil to open the spec's state directory (opsctl).
    let history: BackupHistory?

    func observe(deadline: ContinuousClock.Instant) async throws -> Observation {
        let summary: BackupRecordSummary
        do {
            let history = if let history { history } else { try await BackupHistory.open(stateDirectory: spec.stateDirectory) }
            summary = try await history.summary()
        } catch {
            throw CheckFailure("cannot read the backup history in \(spec.stateDirectory): \(error)")
        }
        let now = Date()
        let verdict = BackupFreshness.evaluate(summary, remoteConfigured: spec.remoteConfigured, maxAge: spec.maxAge, now: now)
        let safe = spec.remoteConfigured ? summary.lastInSync : summary.lastSuccess
        let age = safe.map { now.timeIntervalSince($0) }
        let state: CheckState = switch verdict.level {
        case .ok: .ok
        case .warning: .warn
        case .critical: .crit
        }
        return Observation(
            value: age.map { ($0 / 3600 * 10).rounded() / 10 }, unit: CheckKindDescriptor.backup.unit, summary: verdict.message,
            metrics: age.map { [PerfDatum(label: "age", value: $0, unit: "s")] } ?? [], state: state)
    }
}
