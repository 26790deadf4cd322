/// The keys every mapping of the config file accepts, in one place: the parser takes each
/// `allowed:` list from here (so unknown keys are refused, with a "did you mean"), and the
/// reference test compares `tables` with the keys examples/ops.yaml documents, so a key the
/// parser learns cannot go undocumented.
enum ConfigKeys {
    /// The sections of the file.
    static let top = Configuration.Section.allCases.map(\.rawValue)
    /// `daemon:`.
    static let daemon = ["socket", "state_dir", "listen", "log_level"]

    /// An entry of `workers:`.
    static let worker = [
        "name", "command", "cwd", "environment", "environment_file", "user", "group", "umask", "restart", "stop", "notify", "watchdog", "start_timeout", "limits",
        "after", "after_timeout", "max_lifetime", "max_lifetime_jitter",
    ]
    /// A worker's `restart:`.
    static let restart = ["policy", "backoff", "burst", "reset_after"]
    /// A worker's or a job's `stop:`.
    static let stop = ["signal", "timeout"]
    /// A secret value's source: a value of `environment:` or of an http check's `headers:`.
    static let secretSource = ["file", "env"]

    /// An entry of `checks:`: its name, one kind's key (and that kind's companion keys),
    /// thresholds and timing.
    static let check = ["name"] + CheckKindDescriptor.all.map(\.key) + ["warn", "crit", "every", "timeout"]
        + CheckKindDescriptor.all.flatMap(\.companionKeys) + ["fail_after", "recover_after", "restart", "worker", "start_period"]
    /// A check's `restart:`.
    static let checkRestart = ["worker", "after"]
    /// `sqlite: {…}` of a check (or a bare path).
    static let sqliteCheck = ["path", "query"]
    /// `backup: {…}` of a check.
    static let backupCheck = ["max_age"]
    /// `http: {…}` of a check (or a bare URL).
    static let http = ["url", "method", "headers", "redirects", "ca_file", "certificate"]
    /// An http check's `certificate:`.
    static let certificate = ["warn_days", "crit_days"]
    /// An http check's `expect:`.
    static let expect = ["status", "body_contains", "body_matches", "json"]
    /// `expect.json:`.
    static let expectJSON = ["path", "equals"]
    /// `queue: {…}` of a check.
    static let queue = ["redis", "key", "sqlite", "query", "spool", "warn_age", "crit_age"]

    /// An entry of `jobs:`.
    static let job = [
        "name", "schedule", "every", "timezone", "jitter", "catch_up", "misfire_grace", "timeout", "retries", "retry_backoff",
        "run_at_start", "lock", "on_lock", "stop", "command", "cwd", "environment", "environment_file", "user", "group", "sqlite", "prune", "backup",
    ]
    /// A job's `sqlite:` maintenance.
    static let maintenance = ["databases", "optimize", "checkpoint", "integrity_check", "vacuum", "vacuum_window"]
    /// A job's `prune:`.
    static let prune = ["keep"]

    /// `backup:`.
    static let backup = ["repository", "remote", "databases", "files", "exclude", "schedule", "timezone", "keep", "before", "before_timeout", "encrypt"]
    /// `backup.encrypt:`, age recipients.
    static let backupEncrypt = ["recipients", "recipients_file"]
    /// `backup.keep:`, restic's `forget` rules.
    static let backupKeep = ["last", "hourly", "daily", "weekly", "monthly", "yearly"]
    /// `backup.remote:`.
    static let remote = ["url", "branch", "ssh_key", "known_hosts", "token_file", "token_env"]
    /// An entry of `backup.databases:` written as a mapping.
    static let backupDatabase = ["path", "workers"]

    /// An entry of `alerts:`.
    static let alert = ["name", "webhook", "exec", "format", "on", "severity", "checks", "workers", "jobs", "send_resolved", "repeat", "limit"]

    /// One mapping of the file and the keys it accepts.
    struct Table {
        /// Where the mapping sits: `workers[].restart`; `[]` is any item of a list, and `*` any
        /// key the operator names (an environment variable, a header); "" is the top level.
        let path: String
        /// The keys it accepts.
        let keys: [String]
    }

    /// Every mapping of the file with the keys it accepts. `memory: {}` and a job's
    /// `backup: {}` accept none and are not listed.
    static let tables: [Table] = [
        Table(path: "", keys: top),
        Table(path: "daemon", keys: daemon),
        Table(path: "workers[]", keys: worker),
        Table(path: "workers[].environment.*", keys: secretSource),
        Table(path: "workers[].restart", keys: restart),
        Table(path: "workers[].stop", keys: stop),
        Table(path: "workers[].limits", keys: WorkerLimits.keys),
        Table(path: "checks[]", keys: check),
        Table(path: "checks[].restart", keys: checkRestart),
        Table(path: "checks[].sqlite", keys: sqliteCheck),
        Table(path: "checks[].backup", keys: backupCheck),
        Table(path: "checks[].http", keys: http),
        Table(path: "checks[].http.headers.*", keys: secretSource),
        Table(path: "checks[].http.certificate", keys: certificate),
        Table(path: "checks[].expect", keys: expect),
        Table(path: "checks[].expect.json", keys: expectJSON),
        Table(path: "checks[].queue", keys: queue),
        Table(path: "jobs[]", keys: job),
        Table(path: "jobs[].environment.*", keys: secretSource),
        Table(path: "jobs[].stop", keys: stop),
        Table(path: "jobs[].sqlite", keys: maintenance),
        Table(path: "jobs[].prune", keys: prune),
        Table(path: "backup", keys: backup),
        Table(path: "backup.remote", keys: remote),
        Table(path: "backup.keep", keys: backupKeep),
        Table(path: "backup.encrypt", keys: backupEncrypt),
        Table(path: "backup.databases[]", keys: backupDatabase),
        Table(path: "alerts[]", keys: alert),
    ]

    /// Every key path the parser accepts, as `workers[].restart.policy`.
    static var paths: Set<String> {
        Set(tables.flatMap { table in table.keys.map { table.path.isEmpty ? $0 : "\(table.path).\($0)" } })
    }

    /// The mappings whose keys the operator names (`workers[].environment`), where a key path
    /// has `*` in place of the name.
    static var namedByOperator: Set<String> {
        Set(tables.map(\.path).filter { $0.hasSuffix(".*") }.map { String($0.dropLast(2)) })
    }
}
