public import DaemonRuntime
public import OpsConfig
public import Jobs
public import Supervisor

/// What the control routes ask of the workers' owner: every worker as it is now, and the three
/// actions of `opsctl workers`.
///
/// In opsd it is the `Supervisor` actor itself (each call is the same one hop onto the actor as
/// before); `OpsDaemonTests` answer with a fake, so the routes are tested without processes.
public protocol WorkerControl: Sendable {
    /// Every worker, in start order.
    func snapshot() async -> [WorkerSnapshot]
    /// Starts a worker that is down; throws for an unknown name.
    func start(_ name: String) async throws(SupervisorError)
    /// Stops a worker and keeps it down; throws for an unknown name.
    func stop(_ name: String) async throws(SupervisorError)
    /// Stops a worker if it runs, then starts it; throws for an unknown name.
    func restart(_ name: String) async throws(SupervisorError)
    /// Waits for the outcome of the worker's newest start (`Supervisor.awaitStart`).
    func awaitStart(_ name: String, timeout: Duration, settle: Duration) async -> Supervisor.StartOutcome
    /// Sends a signal to the worker's process group; false when it has no process.
    func signal(_ name: String, _ signal: StopSignal) async throws(SupervisorError) -> Bool
}

extension WorkerControl {
    /// For fakes without processes: the outcome is the state the worker is in now.
    public func awaitStart(_ name: String, timeout: Duration, settle: Duration) async -> Supervisor.StartOutcome {
        let worker = await snapshot().first { $0.name == name }
        return worker?.state == .running ? .running : .failed(worker?.message ?? "it is \(worker.map { "\($0.state)" } ?? "gone")")
    }

    /// For fakes without processes: nothing receives the signal.
    public func signal(_ name: String, _ signal: StopSignal) async throws(SupervisorError) -> Bool { false }
}

/// What the control routes ask of the scheduler: the jobs, their records, and a run now.
///
/// In opsd it is the `JobScheduler` actor; `OpsDaemonTests` answer with a fake.
public protocol JobControl: Sendable {
    /// Every job with its next fire time, in config order.
    func snapshot() async -> [JobSnapshot]
    /// The newest started run of `job`.
    func lastRun(of job: String) async -> RunRecord?
    /// The run records of one job, newest first.
    func history(of job: String, limit: Int) async throws -> [RunRecord]
    /// Starts `name` now and returns the run, whose value is its record; its output goes to
    /// `output` too (closed when the run ends). Throws when the job is unknown or running already.
    func startNow(_ name: String, output: OutputRing?) async throws(JobFailure) -> Task<RunRecord, Never>
}

extension Supervisor: WorkerControl {}

extension JobScheduler: JobControl {}
