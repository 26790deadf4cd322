import FoundationEssentials
import Glibc
public import Scheduling

/// One entry of `jobs:`: something periodic that opsd runs on its scheduler.
public struct JobSpec: Sendable, Equatable {
    /// The shortest `every:` a job may have. Each run starts a process or opens a database and
    /// leaves a record in the state database, so a job is not meant to run more than once a
    /// second; shorter intervals (down to ones that round to zero) would keep a core busy.
    public static let minimumEvery: Duration = .seconds(1)
    /// The job's name: how `opsctl jobs`, the journal and the state database refer to it.
    public var name: String
    /// When it fires: a cron expression read in `timezone`, an interval, or `@reboot`.
    public var trigger: Trigger
    /// Up to this much random delay is added to each fire time, so a fleet does not all wake at once.
    public var jitter: Duration?
    /// When true, a run missed while opsd was down happens once at start (like systemd's Persistent=true).
    public var catchUp: Bool
    /// A run that starts later than this after its fire time is skipped and logged; nil runs it however late.
    public var misfireGrace: Duration?
    /// A run still going after this long is stopped (TERM, then KILL) and counts as failed.
    public var timeout: Duration?
    /// How many times a failed run is tried again before it is recorded as failed.
    public var retries: Int
    /// The delay before the first retry and the cap it doubles towards.
    public var retryBackoff: DurationRange
    /// What the job does.
    public var action: JobAction
    /// When true, an interval or cron job also runs once as soon as opsd starts (not at a
    /// reload); its schedule is unchanged by that run.
    public var runAtStart = false
    /// Jobs with the same lock name never run at once, scheduled or started by `opsctl jobs run`.
    public var lock: String?
    /// What a run does when another job holds its lock: wait for it, or be skipped.
    public var onLock = LockPolicy.wait
    /// How a command job's process group is stopped when opsd stops or the job's timeout ends it:
    /// `signal`, then SIGKILL after `timeout`.
    public var stop = JobSpec.defaultStop

    /// A job's stop unless it says otherwise: SIGTERM, then SIGKILL after 5 s (shorter than a
    /// worker's 10 s: a job is usually work that can be redone at its next fire time).
    public static let defaultStop = StopPolicy(signal: .term, timeout: .seconds(5))

    /// Creates a job spec.
    public init(
        name: String, trigger: Trigger, action: JobAction, jitter: Duration? = nil, catchUp: Bool = false,
        misfireGrace: Duration? = nil, timeout: Duration? = nil, retries: Int = 0,
        retryBackoff: DurationRange = DurationRange(lowerBound: .seconds(10), upperBound: .seconds(600))
    ) {
        self.name = name
        self.trigger = trigger
        self.action = action
        self.jitter = jitter
        self.catchUp = catchUp
        self.misfireGrace = misfireGrace
        self.timeout = timeout
        self.retries = retries
        self.retryBackoff = retryBackoff
    }
}

/// `on_lock:`: what a run does when the job's lock is held by another job.
public enum LockPolicy: String, Sendable, Equatable, CaseIterable {
    /// Wait until the lock is free, then run (late, but not lost).
    case wait
    /// Do not run; record the run as skipped, naming the holder.
    case skip
}

/// What a job does when it fires.
public enum JobAction: Sendable, Equatable {
    /// Runs a command (no shell), output to the journal under the job's name.
    case command(CommandSpec)
    /// SQLite maintenance on the application's databases.
    case sqlite(SQLiteMaintenanceSpec)
    /// Deletes opsd's own history (job runs, check results) older than `keep`.
    case prune(keep: Duration)
    /// Takes a backup as configured in `backup:`.
    case backup

    /// The config key that selects this action.
    public var key: String {
        switch self {
        case .command: return "command"
        case .sqlite: return "sqlite"
        case .prune: return "prune"
        case .backup: return "backup"
        }
    }
}

/// A command job's process: what to run and as whom.
public struct CommandSpec: Sendable, Equatable {
    /// argv; the first word is looked up in PATH when it has no slash.
    public var command: [String]
    /// The working directory; opsd's if nil.
    public var workingDirectory: String?
    /// Added to opsd's environment.
    public var environment: [String: String]
    /// The `environment_file:` files; what they set is already in `environment` (see WorkerSpec).
    public var environmentFiles: [EnvironmentFile] = []
    /// Run as this user (opsd must be root to switch).
    public var user: String?
    /// Run with this group.
    public var group: String?

    /// Creates a command spec.
    public init(command: [String], workingDirectory: String? = nil, environment: [String: String] = [:], user: String? = nil, group: String? = nil) {
        self.command = command
        self.workingDirectory = workingDirectory
        self.environment = environment
        self.user = user
        self.group = group
    }
}

/// `sqlite:` maintenance: the routine care a SQLite database wants and rarely gets.
public struct SQLiteMaintenanceSpec: Sendable, Equatable {
    /// How to reclaim free pages, if at all.
    public enum Vacuum: String, Sendable, Equatable, CaseIterable {
        /// Leave free pages alone.
        case none
        /// `PRAGMA incremental_vacuum` (needs auto_vacuum=INCREMENTAL in the database; cheap).
        case incremental
        /// `VACUUM`: rewrites the whole file and blocks writers while it runs; use a window.
        case full
    }

    /// The database files.
    public var databases: [String]
    /// `PRAGMA optimize` (refreshes the statistics the query planner uses).
    public var optimize: Bool
    /// `PRAGMA wal_checkpoint(TRUNCATE)`: folds the WAL back and shrinks it to zero.
    public var checkpoint: Bool
    /// `PRAGMA integrity_check`: a failure makes the run fail, so it shows in `opsctl jobs`.
    public var integrityCheck: Bool
    /// Free-page reclaim.
    public var vacuum: Vacuum
    /// Local wall-clock window (`"01:00-05:00"`) outside which the vacuum step is skipped.
    public var vacuumWindow: TimeWindow?

    /// Creates a maintenance spec.
    public init(
        databases: [String], optimize: Bool = true, checkpoint: Bool = true, integrityCheck: Bool = false,
        vacuum: Vacuum = .none, vacuumWindow: TimeWindow? = nil
    ) {
        self.databases = databases
        self.optimize = optimize
        self.checkpoint = checkpoint
        self.integrityCheck = integrityCheck
        self.vacuum = vacuum
        self.vacuumWindow = vacuumWindow
    }
}

/// A daily wall-clock window such as `01:00-05:00`; it may wrap midnight (`23:00-02:00`).
public struct TimeWindow: Sendable, Equatable, CustomStringConvertible {
    /// Start, minutes after midnight.
    public var start: Int
    /// End (exclusive), minutes after midnight.
    public var end: Int

    /// The window from `start` to `end`, in minutes after midnight.
    public init(start: Int, end: Int) {
        self.start = start
        self.end = end
    }

    /// Parses `HH:MM-HH:MM`.
    public static func parse(_ text: String) -> TimeWindow? {
        let parts = text.split(separator: "-")
        guard parts.count == 2, let start = minutes(parts[0]), let end = minutes(parts[1]), start != end else { return nil }
        return TimeWindow(start: start, end: end)
    }

    /// Whether `minuteOfDay` (0–1439) lies in the window.
    public func contains(minuteOfDay: Int) -> Bool {
        start < end ? (start..<end).contains(minuteOfDay) : minuteOfDay >= start || minuteOfDay < end
    }

    public var description: String {
        let clock = { (minute: Int) in NumberText.padded(minute / 60, width: 2) + ":" + NumberText.padded(minute % 60, width: 2) }
        return clock(start) + "-" + clock(end)
    }

    private static func minutes(_ text: Substring) -> Int? {
        let hm = text.trimmingWhitespaceAndNewlines().split(separator: ":")
        guard hm.count == 2, let h = Int(hm[0]), let m = Int(hm[1]), (0...23).contains(h), (0...59).contains(m) else { return nil }
        return h * 60 + m
    }
}
