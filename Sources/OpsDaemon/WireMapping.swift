import BackupRecords
import Checks
import OpsAPI
import OpsConfig
import ProcessControl
import Supervisor
import WireMapping

// The one place where opsd turns what its parts report (the supervisor's, the checks' and its own
// snapshots) into the control API's values. Jobs and checks are mapped in the WireMapping module,
// which opsctl shares for the answers it gives itself while opsd is down.

extension StatusReport {
    /// `GET /v1/status`, assembled from each part's snapshot.
    init(
        daemon: DaemonSnapshot, workers: [WorkerSnapshot], checks: [CheckReport]?, backupHistory: BackupRecordSummary?, eventDrops: [String: Int]? = nil,
        alertDrops: [String: Int]? = nil
    ) {
        let configuration = daemon.configuration
        self.init(
            version: daemon.version, pid: daemon.pid, startedAt: daemon.startedAt, uptimeSeconds: seconds(daemon.uptime),
            configPath: daemon.configPath, configLoadedAt: daemon.configLoadedAt, reloads: daemon.reloads,
            lastReloadErrors: daemon.lastReloadErrors, socket: configuration.daemon.socket, stateDirectory: configuration.daemon.stateDirectory,
            workers: workers.map(WorkerStatus.init),
            // Without the check service (no checks configured at start) every configured check is pending.
            checks: checks?.map(CheckStatus.init) ?? configuration.checks.map {
                CheckStatus(name: $0.name, kind: $0.kind.key, state: .pending, everySeconds: seconds($0.every))
            },
            backup: configuration.backup.map { BackupStatus($0, history: backupHistory) }, eventDrops: eventDrops,
            alertDrops: alertDrops
        )
    }
}

extension BackupStatus {
    /// The configured backup with what its history says.
    init(_ settings: BackupSpec, history: BackupRecordSummary?) {
        self.init(
            repository: settings.repository, remote: settings.remote?.url, schedule: settings.schedule?.description,
            lastBackupAt: history?.lastSuccess, lastPushedAt: history?.lastInSync,
            unpushedCommits: history?.lastRun?.unpushedCommits, lastError: Self.lastError(history?.lastRun)
        )
    }

    /// Why the latest run was partial (its failed parts), and why its push failed, if either.
    static func lastError(_ run: BackupRecordSummary.Run?) -> String? {
        let parts = [run?.failedParts.map { "partial backup: \($0)" }, run?.error].compactMap(\.self)
        return parts.isEmpty ? nil : parts.joined(separator: "; ")
    }
}

extension WorkerStatus {
    /// The API form of one worker.
    init(_ worker: WorkerSnapshot) {
        self.init(
            name: worker.name, state: State(worker.state), command: worker.command, pid: worker.pid, uptimeSeconds: worker.uptime.map(seconds),
            restarts: worker.restarts, operatorActions: worker.operatorActions, plannedRestarts: worker.plannedRestarts, lastExit: worker.lastExit.map(ProcessExit.init), statusText: worker.statusText,
            rssBytes: worker.residentBytes, cpuSeconds: worker.cpuTime.map(seconds), message: worker.message
        )
    }
}

extension WorkerStatus.State {
    /// The API form of a worker's lifecycle state.
    init(_ state: Supervisor.State) {
        switch state {
        case .starting: self = .starting
        case .running: self = .running
        case .backoff: self = .backoff
        case .stopping: self = .stopping
        case .stopped: self = .stopped
        case .exited: self = .exited
        case .fatal: self = .fatal
        }
    }
}

extension ProcessExit {
    /// `{"code": N}` or `{"signal": N}`.
    init(_ status: ExitStatus) {
        switch status {
        case .exited(let code): self = .exited(code)
        case .signaled(let signal): self = .signaled(signal)
        }
    }
}

extension ReloadReport {
    /// The API form of a reload's outcome.
    init(_ outcome: ReloadOutcome) {
        switch outcome {
        case .applied(let changed, let needsRestart):
            self.init(applied: true, problems: [], changedSections: changed, needsRestart: needsRestart)
        case .rejected(let problems):
            self.init(applied: false, problems: problems, changedSections: [], needsRestart: [])
        }
    }
}
