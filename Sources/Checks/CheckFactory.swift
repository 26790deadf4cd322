import FoundationEssentials
import Glibc
public import BackupRecords
public import HTTPClient
public import OpsConfig
public import ProcessControl

/// What the check kinds share: the process spawner (plugins), the HTTP client, the environment
/// header secrets come from. One per daemon (or per `opsctl health` run).
public struct CheckEnvironment: Sendable {
    /// Spawns plugins and alert hooks; opsd passes its one `ChildProcesses`.
    public let commands: CommandRunner
    /// The HTTP client of http checks and webhooks.
    public let http: HTTPFetcher
    /// Variables `env:` header values are read from.
    public let variables: [String: String]
    /// The backup history backup checks read: opsd's, in the state database it opened once;
    /// nil where each check run opens the state directory's database itself (opsctl).
    public let backupHistory: BackupHistory?

    /// Creates the shared parts; opsd passes its `ChildProcesses` and its backup history, opsctl a `DirectSpawner`.
    public init(
        spawner: any ProcessSpawner, http: HTTPFetcher = HTTPFetcher(), variables: [String: String]? = nil, backupHistory: BackupHistory? = nil
    ) {
        self.commands = CommandRunner(spawner: spawner)
        self.http = http
        self.variables = variables ?? ProcessInfo.processInfo.environment
        self.backupHistory = backupHistory
    }

    /// Turns a check's configuration into a runnable check.
    public func check(for spec: CheckSpec) -> ConfiguredCheck {
        ConfiguredCheck(spec: spec, check: measurement(for: spec.kind))
    }

    /// The factory of each kind's measurement: the one place that takes a kind's settings apart,
    /// so the one switch on kinds outside `CheckKind.descriptor` (OpsConfig cannot name the check
    /// types). A new kind is a `CheckKind` case with its `CheckKindDescriptor`, and a type
    /// conforming to `Check`; this switch, being exhaustive, does not compile until it makes it.
    private func measurement(for kind: CheckKind) -> any Check {
        switch kind {
        case .disk(let paths): DiskCheck(paths: paths)
        case .memory: MemoryCheck()
        case .sqlite(let sqlite): SQLiteCheck(path: sqlite.path, query: sqlite.query)
        case .queue(.redis(let url, let key)): (try? RedisQueueCheck(url: url, key: key)).map { $0 as any Check } ?? Unusable(reason: "\(url) is not a redis://host:port/db or unix:///path address")
        case .queue(.sqlite(let path, let query)): SQLQueueCheck(path: path, query: query)
        case .queue(.spool(let directory, let warnAge, let critAge)): SpoolQueueCheck(directory: directory, warnAge: warnAge, critAge: critAge)
        case .http(let http): HTTPCheck(spec: http, fetcher: self.http, environment: variables)
        case .command(let arguments, let cwd): CommandCheck(arguments: arguments, workingDirectory: cwd, runner: commands)
        case .backup(let backup): BackupCheck(spec: backup, history: backupHistory)
        }
    }
}

/// A check whose configuration passed validation but cannot be run; always UNKNOWN, saying why.
struct Unusable: Check {
    let reason: String
    func observe(deadline: ContinuousClock.Instant) async throws -> Observation {
        throw CheckFailure(reason)
    }
}
