public import FoundationEssentials

/// `GET /v1/jobs`: one entry per scheduled job, what `opsctl jobs` shows.
public struct JobStatus: Codable, Sendable, Equatable {
    /// The job's name.
    public var name: String
    /// command, sqlite, prune or backup.
    public var kind: String
    /// The trigger as written: a cron expression (with its zone), `every 10m` or `@reboot`.
    public var trigger: String
    /// Whether a run missed while opsd was down happens at start.
    public var catchUp: Bool
    /// The next fire time, if any.
    public var nextRun: Date?
    /// Whether a run is going on now.
    public var running: Bool
    /// The newest run that started.
    public var lastRun: JobRunStatus?

    /// Creates a job status.
    public init(name: String, kind: String, trigger: String, catchUp: Bool, nextRun: Date?, running: Bool, lastRun: JobRunStatus?) {
        self.name = name
        self.kind = kind
        self.trigger = trigger
        self.catchUp = catchUp
        self.nextRun = nextRun
        self.running = running
        self.lastRun = lastRun
    }
}

/// One run of a job (`GET /v1/jobs/NAME/runs` lists them, newest first; `POST /v1/jobs/NAME/run`
/// answers with one).
public struct JobRunStatus: Codable, Sendable, Equatable {
    /// How a run ended.
    public enum Result: String, Codable, Sendable, CaseIterable {
        /// Still going.
        case running
        /// Finished successfully (perhaps after retries).
        case ok
        /// Failed on every attempt, or timed out on the last one.
        case failed
        /// Not started: the previous run was still going.
        case skipped
        /// Not started: later than the job's misfire grace.
        case missed
        /// Cut short by opsd stopping.
        case interrupted
    }

    /// The fire time the run belongs to.
    public var scheduledAt: Date
    /// When it started; nil for skipped and missed fire times.
    public var startedAt: Date?
    /// When it ended.
    public var finishedAt: Date?
    /// How it ended.
    public var result: Result
    /// Attempts made, retries included.
    public var attempts: Int
    /// Seconds from start to end.
    public var durationSeconds: Double?
    /// The summary or the error.
    public var message: String?
    /// The tail of the run's output (its last 20 lines, at most 4 KiB), secrets masked; absent
    /// when it wrote nothing or is not a command.
    public var output: String?

    /// Creates a run status.
    public init(
        scheduledAt: Date, startedAt: Date?, finishedAt: Date?, result: Result, attempts: Int, durationSeconds: Double?, message: String?,
        output: String? = nil
    ) {
        self.output = output
        self.scheduledAt = scheduledAt
        self.startedAt = startedAt
        self.finishedAt = finishedAt
        self.result = result
        self.attempts = attempts
        self.durationSeconds = durationSeconds
        self.message = message
    }
}

/// One line of `POST /v1/jobs/NAME/run?stream=1`'s answer (newline-delimited JSON, as the run
/// goes): a line of the run's output, a note that the reader fell behind and output was
/// skipped, and last, the run's record. Exactly one field is set.
public struct JobRunStreamItem: Codable, Sendable, Equatable {
    /// A line the job wrote (stdout and stderr together), without its newline.
    public var output: String?
    /// Bytes of output the reader missed: it read more slowly than the job wrote, and opsd keeps
    /// only the newest 64 KiB of a followed run.
    public var skippedBytes: UInt64?
    /// The run's record, once it has ended: the last item.
    public var run: JobRunStatus?

    /// An item; set one field.
    public init(output: String? = nil, skippedBytes: UInt64? = nil, run: JobRunStatus? = nil) {
        self.output = output
        self.skippedBytes = skippedBytes
        self.run = run
    }
}
