public import DaemonRuntime
public import Events
public import Logging
public import ProcessControl

/// What a job does when it fires, one conformance per kind (command, SQLite maintenance, prune,
/// backup). The scheduler owns timing, retries, timeouts and records; a `JobWork` only does the
/// work once and says how it went.
public protocol JobWork: Sendable {
    /// Does the work once. Returns a one-line summary for the run record; throws to fail the attempt.
    ///
    /// Must stop promptly when its task is cancelled: that is how a timeout or opsd's shutdown
    /// reaches it.
    func run(_ context: JobContext) async throws -> String

    /// The events of a run that has ended, after its retries: `job_failed` and `job_recovered`
    /// unless the kind of work says what its failures and recoveries mean (a backup's are
    /// `backup_failed`, `backup_local`, `backup_recovered`).
    func events(for outcome: JobOutcome) -> [Event]
}

extension JobWork {
    /// A job's events: `job_failed` after the retries, `job_recovered` for the first success after one.
    public func events(for outcome: JobOutcome) -> [Event] {
        outcome.jobEvents()
    }
}

/// What a run knows about itself.
public struct JobContext: Sendable {
    /// The job's name.
    public let job: String
    /// 1 for the first try, 2 for the first retry, …
    public let attempt: Int
    /// A logger with the job's name attached.
    public let logger: Logger
    /// Where a process the work runs keeps the tail of its output, for the run's record.
    public let output: OutputRing?

    /// Creates a context.
    public init(job: String, attempt: Int, logger: Logger, output: OutputRing? = nil) {
        self.job = job
        self.attempt = attempt
        self.logger = logger
        self.output = output
    }
}

/// A failed attempt, in one sentence.
public struct JobFailure: Error, CustomStringConvertible, Sendable {
    /// What went wrong.
    public let description: String
    /// How the job's process ended, when a process ran and its end is the failure.
    public let exit: ExitStatus?

    /// A failure with `description` as its message, and the process's end if one ran.
    public init(_ description: String, exit: ExitStatus? = nil) {
        self.description = description
        self.exit = exit
    }
}
