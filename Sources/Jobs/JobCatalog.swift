import BackupRecords
public import DaemonRuntime
import FoundationEssentials
import Glibc
public import OpsConfig
public import ProcessControl
import Scheduling

/// Turns the configuration's `jobs:` (and `backup.schedule`) into the scheduler's jobs: one
/// place that knows which `JobWork` serves which kind of job.
public struct JobCatalog: Sendable {
    let children: any ProcessSpawner
    let output: @Sendable (String, OutputRing?) -> Int32?
    let store: JobRunStore
    let configPath: String?

    /// A catalog whose command jobs spawn through `children` with stdout and stderr on the
    /// descriptor `output` returns for the job's name (handed to the spawner, which closes it), whose
    /// prune jobs trim `store`, and whose backups are taken by the companion from the file at
    /// `configPath` (nil where backups are unavailable).
    public init(children: any ProcessSpawner, output: @escaping @Sendable (String) -> Int32?, store: JobRunStore, configPath: String?) {
        self.init(children: children, keepingOutput: { name, _ in output(name) }, store: store, configPath: configPath)
    }

    /// A catalog as above whose `output` also gets the ring a command job's run keeps the tail
    /// of its output in (`ChildOutput.descriptor(for:keeping:)`), for the run's record.
    public init(
        children: any ProcessSpawner, keepingOutput output: @escaping @Sendable (String, OutputRing?) -> Int32?, store: JobRunStore, configPath: String?
    ) {
        self.children = children
        self.output = output
        self.store = store
        self.configPath = configPath
    }

    /// Every scheduled job of `configuration`, in config order, the backup schedule last.
    public func jobs(for configuration: Configuration) -> [ScheduledJob] {
        configuration.scheduledJobs.map { ScheduledJob(spec: $0, work: work(for: $0, in: configuration)) }
    }

    private func work(for spec: JobSpec, in configuration: Configuration) -> any JobWork {
        switch spec.action {
        case .command(let command):
            return CommandJob(spec: command, children: children, keepingOutput: output, stop: spec.stop)
        case .sqlite(let maintenance):
            let zone: Zone
            if case .calendar(let calendar) = spec.trigger { zone = calendar.zone } else { zone = .local }
            return SQLiteMaintenanceJob(spec: maintenance, zone: zone)
        case .prune(let keep):
            return PruneJob(keep: keep, store: store)
        case .backup:
            guard let configPath else {
                return Unavailable(reason: "backups are taken by opsctl backup here")
            }
            // The companion records into the same state database the scheduler's store uses.
            return BackupJob(
                configPath: configPath, history: BackupHistory(database: store.database), children: children,
                tokenVariable: configuration.backup?.remote?.tokenEnv, output: { output($0, nil) })
        }
    }
}

/// The work of a job that cannot run where the catalog was made (a backup in opsctl's own
/// process, which hands backups to the companion before it gets here): every attempt fails, saying why.
private struct Unavailable: JobWork {
    let reason: String

    func run(_ context: JobContext) async throws -> String {
        throw JobFailure(reason)
    }
}
