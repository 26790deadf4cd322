public import FoundationEssentials
public import Jobs
public import OpsAPI
public import OpsConfig

extension JobRunStatus {
    /// The API form of a run record.
    public init(_ record: RunRecord) {
        self.init(
            scheduledAt: record.scheduledAt, startedAt: record.startedAt, finishedAt: record.finishedAt,
            result: Result(record.result), attempts: record.attempts, durationSeconds: record.duration, message: record.message,
            output: record.output
        )
    }
}

extension JobRunStatus.Result {
    /// The API form of how a run ended.
    public init(_ result: RunResult) {
        switch result {
        case .running: self = .running
        case .ok: self = .ok
        case .failed: self = .failed
        case .skipped: self = .skipped
        case .missed: self = .missed
        case .interrupted: self = .interrupted
        }
    }
}

extension JobStatus {
    /// The API form of a job: its spec, next fire time, whether it runs, and its newest run.
    public init(spec: JobSpec, nextRun: Date?, running: Bool, lastRun: RunRecord?) {
        self.init(
            name: spec.name, kind: spec.action.key, trigger: spec.trigger.description, catchUp: spec.catchUp,
            nextRun: nextRun, running: running, lastRun: lastRun.map(JobRunStatus.init)
        )
    }

    /// The API form of the scheduler's view of a job, with its newest run.
    public init(_ snapshot: JobSnapshot, lastRun: RunRecord?) {
        self.init(spec: snapshot.spec, nextRun: snapshot.nextRun, running: snapshot.running, lastRun: lastRun)
    }
}
