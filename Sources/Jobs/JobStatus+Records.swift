public import FoundationEssentials
import Glibc
public import ControlPlane
public import OpsConfig

extension JobRunStatus {
    /// The API form of a run record.
    public init(_ record: RunRecord) {
        self.init(
            scheduledAt: record.scheduledAt, startedAt: record.startedAt, finishedAt: record.finishedAt,
            result: record.result.rawValue, attempts: record.attempts, durationSeconds: record.duration, message: record.message)
    }
}

extension JobStatus {
    /// The API form of a job: its spec, next fire time, whether it runs, and its newest run.
    public init(spec: JobSpec, nextRun: Date?, running: Bool, lastRun: RunRecord?) {
        self.init(
            name: spec.name, kind: spec.action.key, trigger: spec.trigger.description, catchUp: spec.catchUp,
            nextRun: nextRun, running: running, lastRun: lastRun.map(JobRunStatus.init))
    }
}
