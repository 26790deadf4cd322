// The typed configuration of opsd, as decoded from `ops.yaml`.
//
// Every value here has already been validated: paths are absolute (relative ones are resolved
// against the directory of the config file), names are unique, durations are positive. Code that
// receives a `Configuration` never re-checks what the loader promised.

public import Scheduling

/// The whole configuration file: one daemon, its workers, checks, backup and alert routes.
public struct Configuration: Sendable, Equatable {
    /// Where the daemon keeps its socket and state.
    public var daemon: DaemonSettings
    /// Processes that opsd launches and keeps running, in start order.
    public var workers: [WorkerSpec]
    /// Health checks run on their own intervals.
    public var checks: [CheckSpec]
    /// Periodic jobs run by opsd's scheduler.
    public var jobs: [JobSpec]
    /// The git-backed backup of databases and files, if configured.
    public var backup: BackupSpec?
    /// Where events (checks, workers, jobs, backups, opsd itself) are reported.
    public var alerts: [AlertSpec]

    /// Creates a configuration; the defaults describe a daemon with nothing to do.
    public init(
        daemon: DaemonSettings = DaemonSettings(),
        workers: [WorkerSpec] = [],
        checks: [CheckSpec] = [],
        jobs: [JobSpec] = [],
        backup: BackupSpec? = nil,
        alerts: [AlertSpec] = []
    ) {
        self.daemon = daemon
        self.workers = workers
        self.checks = checks
        self.jobs = jobs
        self.backup = backup
        self.alerts = alerts
    }

    /// The top-level sections of the file, in the order the reference documents them. The parser
    /// accepts exactly these keys, and a reload compares exactly these sections, so a new section
    /// cannot be read without being compared.
    public enum Section: String, Sendable, Equatable, CaseIterable {
        case daemon, workers, checks, jobs, backup, alerts
    }

    /// Whether `section` differs between this configuration and `other`.
    public func differs(in section: Section, from other: Configuration) -> Bool {
        switch section {
        case .daemon: daemon != other.daemon
        case .workers: workers != other.workers
        case .checks: checks != other.checks
        case .jobs: jobs != other.jobs
        case .backup: backup != other.backup
        case .alerts: alerts != other.alerts
        }
    }

    /// The sections that differ from `other`, in file order.
    public func changedSections(from other: Configuration) -> [Section] {
        Section.allCases.filter { differs(in: $0, from: other) }
    }
}

/// The `daemon:` section.
public struct DaemonSettings: Sendable, Equatable {
    /// The control socket `opsctl` talks to.
    public var socket: String
    /// opsd's own state (check history, job runs, backup bookkeeping).
    public var stateDirectory: String
    /// The optional TCP listener for `/metrics` and `/healthz`.
    public var listen: ListenAddress?
    /// The lowest log level written (`info` unless set).
    public var logLevel: LogLevelName

    /// The socket used when neither the config nor the command line names one.
    public static let defaultSocket = "/run/ops/opsd.sock"
    /// The state directory used when the config names none.
    public static let defaultStateDirectory = "/var/lib/ops"
    /// The longest control socket path opsd can bind, in bytes: SwiftNIO refuses unix socket
    /// paths over 103 bytes (the smallest `sun_path` among the systems it supports, less the
    /// NUL), though Linux would take 107. Every socket opsd binds through NIO, including any
    /// temporary name beside the control socket, must stay within it.
    public static let maximumSocketPathLength = 103

    /// Creates daemon settings with the packaged defaults.
    public init(
        socket: String = DaemonSettings.defaultSocket,
        stateDirectory: String = DaemonSettings.defaultStateDirectory,
        listen: ListenAddress? = nil,
        logLevel: LogLevelName = .info
    ) {
        self.socket = socket
        self.stateDirectory = stateDirectory
        self.listen = listen
        self.logLevel = logLevel
    }
}

/// A log level as written in the config (`trace` … `critical`).
public enum LogLevelName: String, Sendable, Equatable, CaseIterable {
    case trace, debug, info, notice, warning, error, critical
}

/// A TCP address to listen on, such as `127.0.0.1:9110`.
public struct ListenAddress: Sendable, Equatable, CustomStringConvertible {
    /// The host or IP address to bind.
    public var host: String
    /// The TCP port, 1–65535.
    public var port: Int
    /// Creates a listen address.
    public init(host: String, port: Int) {
        self.host = host
        self.port = port
    }
    /// `host:port`, with brackets around IPv6 addresses.
    public var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }
}

/// One entry of `workers:`: a long-running process under opsd's supervision.
public struct WorkerSpec: Sendable, Equatable {
    /// A unique name; it appears in logs (`OPS_WORKER`) and in `opsctl workers …`.
    public var name: String
    /// The program and its arguments, executed directly (no shell).
    public var command: [String]
    /// The working directory, if not opsd's own.
    public var workingDirectory: String?
    /// Variables added to (or overriding) the environment opsd inherited.
    public var environment: [String: String]
    /// The `environment_file:` files; what they set is already in `environment`, read with the
    /// configuration (they win over `environment:`, as `EnvironmentFile=` over `Environment=`).
    public var environmentFiles: [EnvironmentFile] = []
    /// The values of `environment:` written as `{file: PATH}` or `{env: NAME}`, by variable. A
    /// file's value is already in `environment`, read with the configuration; opsd's variable is
    /// read at each start (`variables(from:)`).
    public var environmentReferences: [String: EnvironmentReference] = [:]
    /// The user to run as (needs opsd to run as root or with CAP_SETUID).
    public var user: String?
    /// The group to run as.
    public var group: String?
    /// The file mode creation mask, e.g. `0o027`.
    public var umask: UInt32?
    /// When and how fast to restart.
    public var restart: RestartPolicy
    /// How to stop it.
    public var stop: StopPolicy
    /// Whether the worker speaks the sd_notify protocol (READY=1 gates "running").
    public var notify: Bool
    /// With `notify`, the longest gap between WATCHDOG=1 pings before the worker counts as hung.
    public var watchdog: Duration?
    /// How long the worker may take to become ready (to send READY=1, with `notify`).
    public var startTimeout: Duration
    /// `limits:`: rlimits set in the child, and cgroup limits where opsd has a delegated cgroup.
    public var limits = WorkerLimits()
    /// `after:`: workers that must be running (ready, for notify workers) before this one
    /// starts; it stops before them. Names checked, cycles refused, by the parser.
    public var after: [String] = []
    /// How long a start waits for the workers of `after:`; then it starts anyway, and says so.
    public var afterTimeout: Duration = .seconds(60)
    /// `max_lifetime:`: a run this old is restarted, as planned (not as a crash), like systemd's
    /// `RuntimeMaxSec=` with `Restart=`; nil: runs are never restarted for their age.
    public var maxLifetime: Duration?
    /// Up to this much is added to `maxLifetime`, drawn at random for each run, so workers (and
    /// hosts) started together do not restart together: `max_lifetime_jitter:`, by default a
    /// tenth of `max_lifetime` (systemd's `RuntimeRandomizedExtraSec=`).
    public var maxLifetimeJitter: Duration?

    /// Creates a worker spec with the defaults of the config file.
    public init(
        name: String,
        command: [String],
        workingDirectory: String? = nil,
        environment: [String: String] = [:],
        user: String? = nil,
        group: String? = nil,
        umask: UInt32? = nil,
        restart: RestartPolicy = RestartPolicy(),
        stop: StopPolicy = StopPolicy(),
        notify: Bool = false,
        watchdog: Duration? = nil,
        startTimeout: Duration = .seconds(30)
    ) {
        self.name = name
        self.command = command
        self.workingDirectory = workingDirectory
        self.environment = environment
        self.user = user
        self.group = group
        self.umask = umask
        self.restart = restart
        self.stop = stop
        self.notify = notify
        self.watchdog = watchdog
        self.startTimeout = startTimeout
    }
}

/// A value of `environment:` that is not written in the file: `{file: PATH}` (the file's first
/// line, as an HTTP check's header) or `{env: NAME}` (a variable of opsd's own environment).
public enum EnvironmentReference: Sendable, Equatable {
    /// A file holding the value.
    case file(String)
    /// A variable of opsd's environment.
    case variable(String)
}

extension WorkerSpec {
    /// The `{env: NAME}` values of `environment:` taken from `environment` (opsd's own); throws
    /// a sentence naming the first variable that is not set.
    public func variables(from environment: [String: String]) throws(MissingVariable) -> [String: String] {
        var values: [String: String] = [:]
        for (key, reference) in environmentReferences.sorted(by: { $0.key < $1.key }) {
            guard case .variable(let name) = reference else { continue }
            guard let value = environment[name] else { throw MissingVariable(key: key, variable: name) }
            values[key] = value
        }
        return values
    }
}

/// An `{env: NAME}` value of `environment:` whose variable opsd's environment does not have.
public struct MissingVariable: Error, CustomStringConvertible, Equatable {
    /// The worker's variable (`environment.KEY`).
    public let key: String
    /// opsd's variable it reads.
    public let variable: String

    /// One sentence saying what to do.
    public var description: String {
        "environment.\(key) reads \(variable) from opsd's environment, which does not have it; set it for opsd (Environment= or EnvironmentFile= in a drop-in of opsd.service) or use {file: PATH}"
    }
}

/// `restart:` of a worker.
public struct RestartPolicy: Sendable, Equatable {
    /// When a worker that ended is started again.
    public enum Mode: String, Sendable, Equatable, CaseIterable {
        /// After any exit.
        case always
        /// After a non-zero exit or death by a signal.
        case onFailure = "on-failure"
        /// Never.
        case never
    }
    /// When to restart.
    public var mode: Mode
    /// The delay before a restart grows from `backoff.lowerBound` to `backoff.upperBound`.
    public var backoff: DurationRange
    /// More starts than this within its window make the worker `fatal`.
    public var burst: BurstLimit
    /// A worker that stayed up this long starts over at the initial backoff.
    public var resetAfter: Duration

    /// Creates a restart policy: on-failure, 1s..60s, 5 starts in 60s, reset after 60s.
    public init(
        mode: Mode = .onFailure,
        backoff: DurationRange = DurationRange(lowerBound: .seconds(1), upperBound: .seconds(60)),
        burst: BurstLimit = BurstLimit(count: 5, window: .seconds(60)),
        resetAfter: Duration = .seconds(60)
    ) {
        self.mode = mode
        self.backoff = backoff
        self.burst = burst
        self.resetAfter = resetAfter
    }
}

/// `stop:` of a worker.
public struct StopPolicy: Sendable, Equatable {
    /// The signal sent to the worker's process group first.
    public var signal: StopSignal
    /// How long to wait after it before SIGKILL.
    public var timeout: Duration
    /// Creates a stop policy: SIGTERM, then SIGKILL after 10 s.
    public init(signal: StopSignal = .term, timeout: Duration = .seconds(10)) {
        self.signal = signal
        self.timeout = timeout
    }
}

/// A signal a worker may be asked to stop with.
public enum StopSignal: String, Sendable, Equatable, CaseIterable {
    case term = "TERM", int = "INT", quit = "QUIT", hup = "HUP", kill = "KILL", usr1 = "USR1", usr2 = "USR2"

    /// The signal's number on Linux.
    public var number: Int32 {
        switch self {
        case .hup: 1
        case .int: 2
        case .quit: 3
        case .kill: 9
        case .usr1: 10
        case .usr2: 12
        case .term: 15
        }
    }
}

/// One entry of `checks:`.
public struct CheckSpec: Sendable, Equatable {
    /// A unique name (`OPS_CHECK` in logs, `opsctl health NAME`).
    public var name: String
    /// What is measured.
    public var kind: CheckKind
    /// The range outside which the check reports WARN (Nagios syntax).
    public var warn: Threshold?
    /// The range outside which the check reports CRIT (Nagios syntax).
    public var crit: Threshold?
    /// How often it runs.
    public var every: Duration
    /// The shortest `every:` a check may have: ten runs a second is already more than any health
    /// signal needs, and shorter intervals (down to ones that round to zero) would run the check
    /// back to back on a busy core.
    public static let minimumEvery: Duration = .milliseconds(100)
    /// How long one run may take before it counts as UNKNOWN.
    public var timeout: Duration
    /// How many consecutive results of a worse state it takes to enter that state.
    public var failAfter: Int
    /// How many consecutive results of a better state it takes to recover to it.
    public var recoverAfter: Int
    /// A worker to restart when the check stays CRIT, if any.
    public var restart: CheckRestart?
    /// The worker this check watches (`worker:`, else `restart.worker`): while it is not running
    /// (ready, for a notify worker) the check's bad results do not count, and each of its starts
    /// begins a start period. Its own failures are the worker's events, not this check's.
    public var worker: String?
    /// `start_period:` (Docker's `HEALTHCHECK --start-period`): bad results within this long of
    /// the check's start (or its worker's) do not count until the check has passed once. A check
    /// that watches a worker has `defaultWorkerStartPeriod` unless told otherwise; others have none.
    public var startPeriod: Duration?
    /// A worker's first minute: long enough for an application to bind its port and warm up.
    public static let defaultWorkerStartPeriod: Duration = .seconds(60)

    /// The worker this check waits for: `worker:`, else the one `restart:` names.
    public var watchedWorker: String? { worker ?? restart?.worker }

    /// The start period in force: `start_period:`, else a minute for a check that watches a worker.
    public var effectiveStartPeriod: Duration {
        startPeriod ?? (watchedWorker == nil ? .zero : Self.defaultWorkerStartPeriod)
    }

    /// Creates a check spec.
    public init(
        name: String,
        kind: CheckKind,
        warn: Threshold? = nil,
        crit: Threshold? = nil,
        every: Duration = .seconds(60),
        timeout: Duration = .seconds(10),
        failAfter: Int = 1,
        recoverAfter: Int = 1,
        restart: CheckRestart? = nil
    ) {
        self.name = name
        self.kind = kind
        self.warn = warn
        self.crit = crit
        self.every = every
        self.timeout = timeout
        self.failAfter = failAfter
        self.recoverAfter = recoverAfter
        self.restart = restart
    }
}

/// `restart: {worker: app, after: 3}` of a check: restart a worker after N consecutive CRIT results.
///
/// Meant for checks that prove the worker itself is stuck; a check of a shared dependency (the
/// database, the queue) should alert, not restart, or every restart just repeats the outage.
public struct CheckRestart: Sendable, Equatable {
    /// The worker to restart; it must be declared under `workers:`.
    public var worker: String
    /// Consecutive CRIT results before the restart; the count starts over after each restart.
    public var after: Int

    /// Creates a restart action.
    public init(worker: String, after: Int = 3) {
        self.worker = worker
        self.after = after
    }
}

/// What a check measures; exactly one kind key per check.
public enum CheckKind: Sendable, Equatable {
    /// Used space and inodes of the filesystems holding these paths.
    case disk(paths: [String])
    /// Memory use (MemAvailable-based, and the cgroup's limit when there is one).
    case memory
    /// Health of a SQLite database file.
    case sqlite(SQLiteCheckSpec)
    /// Backlog of a queue.
    case queue(QueueSource)
    /// Reachability of an HTTP endpoint.
    case http(HTTPCheckSpec)
    /// A Nagios-compatible plugin; its exit code is the state. It runs in `cwd` when given
    /// (opsd's own working directory otherwise).
    case command([String], cwd: String? = nil)
    /// Freshness of the backups recorded in the state database.
    case backup(BackupCheckSpec)

    /// Everything opsd knows about this kind besides its settings: see `CheckKindDescriptor`.
    /// The one switch that maps a kind to its facts; the compiler makes a new kind add its entry.
    public var descriptor: CheckKindDescriptor {
        switch self {
        case .disk: .disk
        case .memory: .memory
        case .sqlite: .sqlite
        case .queue: .queue
        case .http: .http
        case .command: .command
        case .backup: .backup
        }
    }

    /// The config key that selects this kind (`disk`, `http`, …), also its name in reports.
    public var key: String { descriptor.key }
}

/// `backup: {max_age: 26h}`: CRIT when no backup reached safety (the remote, or without one the
/// local repository) within `max_age`; WARN when the latest one stayed local or failed.
///
/// Made whole when the check is read: the parser reads `daemon:` and `backup:` before `checks:`,
/// so the state directory and the remote come from the same file, and a backup check without a
/// `backup:` section is a problem at its own key and line.
public struct BackupCheckSpec: Sendable, Equatable {
    /// How old the last safe backup may be.
    public var maxAge: Duration
    /// Where the backup history is recorded (`daemon.state_dir`).
    public var stateDirectory: String
    /// Whether `backup.remote` is set: then only pushed backups count as safe.
    public var remoteConfigured: Bool

    /// Creates a backup check spec.
    public init(maxAge: Duration, stateDirectory: String, remoteConfigured: Bool) {
        self.maxAge = maxAge
        self.stateDirectory = stateDirectory
        self.remoteConfigured = remoteConfigured
    }
}

/// `sqlite: PATH` or `sqlite: {path: PATH, query: SQL}`.
public struct SQLiteCheckSpec: Sendable, Equatable {
    /// The database file; it is opened read-only.
    public var path: String
    /// A query returning one number that warn/crit then apply to (instead of the latency).
    public var query: String?

    /// Creates a SQLite check spec.
    public init(path: String, query: String? = nil) {
        self.path = path
        self.query = query
    }
}

/// Where a queue check counts pending work.
public enum QueueSource: Sendable, Equatable {
    /// `LLEN key` on a Redis server (`redis://host:port/db` or `unix:///path`).
    case redis(url: String, key: String)
    /// A SQL query returning one number, on a SQLite database.
    case sqlite(path: String, query: String)
    /// Files in a spool directory: count, and the age of the oldest against its own limits.
    case spool(directory: String, warnAge: Duration?, critAge: Duration?)
}

/// `http: URL` with its `expect:` and options.
public struct HTTPCheckSpec: Sendable, Equatable {
    /// The URL requested.
    public var url: String
    /// GET, HEAD, POST, …
    public var method: String
    /// Status codes that count as success.
    public var expectStatus: [Int]
    /// Text the body must contain.
    public var bodyContains: String?
    /// A regular expression the body must match.
    public var bodyMatches: String?
    /// A field of a JSON body (dotted path, e.g. `status` or `checks.db`) and the value it must have.
    public var jsonField: JSONFieldExpectation?
    /// Request headers; secret values come from files or the environment, never from the config.
    public var headers: [HeaderSpec]
    /// How many redirects are followed; 0 reports the redirect itself.
    public var maxRedirects: Int
    /// Days before the TLS certificate's expiry at which the check warns / goes critical.
    public var certificateWarnDays: Int?
    /// See `certificateWarnDays`.
    public var certificateCritDays: Int?
    /// A PEM file of extra trusted certificates (a private CA, a self-signed server).
    public var caFile: String?

    /// Creates an HTTP check spec: GET, expecting 200, following up to 5 redirects.
    public init(
        url: String, method: String = "GET", expectStatus: [Int] = [200], bodyContains: String? = nil, bodyMatches: String? = nil,
        jsonField: JSONFieldExpectation? = nil, headers: [HeaderSpec] = [], maxRedirects: Int = 5,
        certificateWarnDays: Int? = nil, certificateCritDays: Int? = nil, caFile: String? = nil
    ) {
        self.url = url
        self.method = method
        self.expectStatus = expectStatus
        self.bodyContains = bodyContains
        self.bodyMatches = bodyMatches
        self.jsonField = jsonField
        self.headers = headers
        self.maxRedirects = maxRedirects
        self.certificateWarnDays = certificateWarnDays
        self.certificateCritDays = certificateCritDays
        self.caFile = caFile
    }
}

/// `expect: {json: {path: status, equals: UP}}`.
public struct JSONFieldExpectation: Sendable, Equatable {
    /// Dotted path into the JSON body; numeric parts index arrays (`items.0.id`).
    public var path: String
    /// The expected value, compared as text (`true`, `42`, `UP`).
    public var equals: String

    /// Creates an expectation.
    public init(path: String, equals: String) {
        self.path = path
        self.equals = equals
    }
}

/// One request header of an HTTP check.
public struct HeaderSpec: Sendable, Equatable {
    /// Where the header's value comes from.
    public enum Source: Sendable, Equatable {
        /// Written in the config (not for secrets).
        case literal(String)
        /// The first line of a file, read at each run (so a rotated token is picked up).
        case file(String)
        /// An environment variable of opsd (or opsctl).
        case environment(String)
    }
    /// The header name.
    public var name: String
    /// Where its value comes from.
    public var value: Source

    /// Creates a header spec.
    public init(name: String, value: Source) {
        self.name = name
        self.value = value
    }
}

/// `backup:`: what is backed up, where, and when.
public struct BackupSpec: Sendable, Equatable {
    /// The local git repository (bare) that receives the commits.
    public var repository: String
    /// Where commits are pushed, if anywhere.
    public var remote: RemoteSpec?
    /// SQLite databases, snapshotted with the online backup API.
    public var databases: [String]
    /// The workers that use each database (by path): `opsctl restore` stops them around the swap.
    public var databaseWorkers: [String: [String]] = [:]
    /// The line each database path is written on (by path), for warnings about the file.
    public var databaseLines: [String: Int] = [:]
    /// Other files (configs), taken as they are.
    public var files: [String]
    /// Glob patterns of files to leave out.
    public var exclude: [String]
    /// When the daemon takes a backup on its own, if at all: `schedule:` read in `timezone:` (UTC
    /// unless set), parsed and checked with the scheduler's own parser when the file is read.
    public var schedule: Trigger?
    /// Which backups `opsctl backup prune` (and opsd, after each scheduled backup) keeps; nil: all.
    public var keep: BackupKeep?
    /// Commands (argv, no shell) run in order before the snapshots, e.g. an export of state that
    /// is not SQLite into a directory under `files`; one that fails is a failed part of the backup.
    public var before: [[String]] = []
    /// How long each `before` command may run before it is killed.
    public var beforeTimeout: Duration = .seconds(300)
    /// `encrypt:`: what leaves the host is encrypted to these age recipients; nil: plaintext.
    public var encrypt: BackupEncryption?

    /// Creates a backup spec.
    public init(
        repository: String,
        remote: RemoteSpec? = nil,
        databases: [String] = [],
        files: [String] = [],
        exclude: [String] = [],
        schedule: Trigger? = nil
    ) {
        self.repository = repository
        self.remote = remote
        self.databases = databases
        self.files = files
        self.exclude = exclude
        self.schedule = schedule
    }
}

/// `backup.encrypt:`: every object pushed to the remote is encrypted in the age format to these
/// public keys, so the remote (and whoever reads it) cannot read the backups, and neither can the
/// host once its local repository is gone: only the holders of the matching identities can.
public struct BackupEncryption: Sendable, Equatable {
    /// `recipients:`, age X25519 recipients (`age1…`), checked when the file is read.
    public var recipients: [String]
    /// `recipients_file:`, a file of recipients (one a line, `#` comments), read at each backup.
    public var recipientsFile: String?

    /// Creates an encryption spec.
    public init(recipients: [String] = [], recipientsFile: String? = nil) {
        self.recipients = recipients
        self.recipientsFile = recipientsFile
    }
}

/// `backup.remote:`. Secrets live in files named here, never in the config itself.
public struct RemoteSpec: Sendable, Equatable {
    /// A path, an SSH address (`git@host:repo.git`, `ssh://…`) or an HTTPS URL, without credentials.
    public var url: String
    /// The branch commits go to; `{hostname}` is replaced by the host's name.
    public var branch: String
    /// The SSH private key file.
    public var sshKey: String?
    /// The known_hosts file the server's host key is checked against.
    public var knownHosts: String?
    /// A file holding the HTTPS token.
    public var tokenFile: String?
    /// The environment variable (of opsd, or of opsctl for `opsctl backup`) holding the HTTPS
    /// token, instead of `tokenFile`; never both.
    public var tokenEnv: String?

    /// Creates a remote spec.
    public init(url: String, branch: String = "{hostname}", sshKey: String? = nil, knownHosts: String? = nil, tokenFile: String? = nil) {
        self.url = url
        self.branch = branch
        self.sshKey = sshKey
        self.knownHosts = knownHosts
        self.tokenFile = tokenFile
    }
}
