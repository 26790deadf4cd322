import BackupRecords
import Checks
import Events
import FoundationEssentials
import Jobs
import OpsAPI
import Scheduling
import Supervisor

/// Everything one scrape of `/metrics` shows, read from each part's own snapshot at one moment
/// (``MetricsCollector`` gathers it); ``families`` turns it into Prometheus families. A plain value,
/// so the unit tests render known inputs without a running daemon.
struct MetricsSnapshot: Sendable {
    /// The moment of the scrape: worker start times are computed from it.
    var now: Date
    /// opsd's version and the SQLite it runs on.
    var version: String
    var sqliteVersion: String
    /// When opsd started, successful reloads, and whether the last reload was refused.
    var startedAt: Date
    var reloads: Int
    var lastReloadRejected: Bool
    /// opsd's own process, from /proc/self; nil where /proc cannot be read.
    var process: ProcessFigures?
    var workers: [WorkerSnapshot]
    /// Worker failures by worker and event kind, from the event bus.
    var workerEvents: [String: [EventKind: Int]]
    var jobs: [JobFigures]
    /// The backup's records; nil when no backup is configured.
    var backup: BackupRecordSummary?
    /// Whether `backup.remote` is configured (the push timestamp means nothing without one).
    var backupRemote: Bool
    var checks: [CheckReport]
    /// Events emitted by kind, and dropped by consumer, since opsd started.
    var events: [EventKind: Int]
    var drops: [String: Int]
    var deliveries: [AlertRouteCounts]

    /// One job: what the scheduler says now and what its run records say.
    struct JobFigures: Sendable {
        var name: String
        var running: Bool
        var nextRun: Date?
        var tally: JobRunTally.Job
    }

    /// opsd's own process figures.
    struct ProcessFigures: Sendable, Equatable {
        var cpuSeconds: Double
        var residentBytes: UInt64
        var virtualBytes: UInt64
        var openDescriptors: Int
        var maxDescriptors: Int?
    }

    /// The families, in the order of docs/alerts.md's table.
    var families: [MetricFamily] {
        daemonFamilies + workerFamilies + jobFamilies + backupFamilies + checkFamilies + eventFamilies
    }
}

/// A shorthand for samples.
private func sample(_ labels: [(name: String, value: String)], _ value: Double) -> MetricFamily.Sample {
    MetricFamily.Sample(labels, value)
}

private func epoch(_ date: Date) -> Double { date.timeIntervalSince1970 }

extension MetricsSnapshot {
    var daemonFamilies: [MetricFamily] {
        var families = [
            MetricFamily("opsd_build_info", .gauge, "opsd's version and the SQLite library it runs on; always 1.", [
                sample([("version", version), ("sqlite", sqliteVersion)], 1),
            ]),
            MetricFamily("opsd_config_reloads_total", .counter, "Configuration reloads applied since opsd started.", [sample([], Double(reloads))]),
            MetricFamily("opsd_config_last_reload_successful", .gauge, "0 when the last reload was refused (the previous configuration stays in force), else 1.", [
                sample([], lastReloadRejected ? 0 : 1),
            ]),
            MetricFamily("process_start_time_seconds", .gauge, "When opsd started, in seconds since 1970.", [sample([], epoch(startedAt))]),
        ]
        if let process {
            families += [
                MetricFamily("process_cpu_seconds_total", .counter, "CPU time opsd used, user and system.", [sample([], process.cpuSeconds)]),
                MetricFamily("process_resident_memory_bytes", .gauge, "opsd's resident memory.", [sample([], Double(process.residentBytes))]),
                MetricFamily("process_virtual_memory_bytes", .gauge, "opsd's virtual memory.", [sample([], Double(process.virtualBytes))]),
                MetricFamily("process_open_fds", .gauge, "File descriptors opsd holds open.", [sample([], Double(process.openDescriptors))]),
                MetricFamily("process_max_fds", .gauge, "opsd's limit of open file descriptors.", process.maxDescriptors.map { [sample([], Double($0))] } ?? []),
            ]
        }
        return families
    }

    /// The failure reasons of `opsd_worker_failures_total`, by the event kind that reports each.
    static let workerFailureReasons: [(kind: EventKind, reason: String)] = [
        (.workerExited, "exited"), (.workerWatchdog, "watchdog"), (.workerStartTimeout, "start_timeout"), (.workerFatal, "fatal"),
    ]

    var workerFamilies: [MetricFamily] {
        func label(_ worker: WorkerSnapshot) -> [(name: String, value: String)] { [("worker", worker.name)] }
        return [
            MetricFamily("opsd_worker_up", .gauge, "1 while the worker runs (a notify worker once it is ready), else 0.", workers.map {
                sample(label($0), $0.state == .running ? 1 : 0)
            }),
            MetricFamily("opsd_worker_state", .gauge, "1 for the state each worker is in, 0 for the others.", workers.flatMap { worker in
                let current = WorkerStatus.State(worker.state)
                return WorkerStatus.State.allCases.map { sample(label(worker) + [("state", $0.rawValue)], $0 == current ? 1 : 0) }
            }),
            MetricFamily("opsd_worker_restarts_total", .counter, "Unplanned restarts of each worker (after a failure or an exit) since opsd started.", workers.map {
                sample(label($0), Double($0.restarts))
            }),
            MetricFamily("opsd_worker_planned_restarts_total", .counter, "Restarts of each worker at its max_lifetime since opsd started.", workers.map {
                sample(label($0), Double($0.plannedRestarts))
            }),
            MetricFamily("opsd_worker_operator_actions_total", .counter, "Starts, stops and restarts of each worker an operator asked for since opsd started.", workers.map {
                sample(label($0), Double($0.operatorActions))
            }),
            MetricFamily(
                "opsd_worker_failures_total", .counter,
                "Worker failures since opsd started, by reason: exited unexpectedly, watchdog, start_timeout, fatal (given up).",
                workers.flatMap { worker in
                    Self.workerFailureReasons.map { sample(label(worker) + [("reason", $0.reason)], Double(workerEvents[worker.name]?[$0.kind] ?? 0)) }
                }
            ),
            MetricFamily(
                "opsd_worker_last_exit_code", .gauge, "How each worker's last process ended: its exit status, or 128 + the signal that ended it.",
                workers.compactMap { worker in
                    worker.lastExit.map { exit in
                        switch exit {
                        case .exited(let code): sample(label(worker), Double(code))
                        case .signaled(let signal): sample(label(worker), Double(128 + signal))
                        }
                    }
                }
            ),
            MetricFamily("opsd_worker_start_time_seconds", .gauge, "When each running worker's process started, in seconds since 1970.", workers.compactMap { worker in
                worker.uptime.map { sample(label(worker), (epoch(now) - $0.seconds).rounded()) }
            }),
            MetricFamily("opsd_worker_cpu_seconds_total", .counter, "CPU time of each running worker, user and system: its whole cgroup's under delegation, else its main process's.", workers.compactMap { worker in
                worker.cpuTime.map { sample(label(worker), $0.seconds) }
            }),
            MetricFamily("opsd_worker_resident_memory_bytes", .gauge, "Memory of each running worker: its cgroup's memory.current under delegation (page cache included), else its main process's resident size.", workers.compactMap { worker in
                worker.residentBytes.map { sample(label(worker), Double($0)) }
            }),
        ]
    }

    /// The results a run is counted under in `opsd_job_runs_total` (`running` is not an end).
    static let jobResults: [RunResult] = RunResult.allCases.filter { $0 != .running }
    /// The results a started run can end with, for `opsd_job_last_result`.
    static let startedResults: [RunResult] = [.ok, .failed, .interrupted]

    var jobFamilies: [MetricFamily] {
        func label(_ job: JobFigures) -> [(name: String, value: String)] { [("job_name", job.name)] }
        return [
            MetricFamily("opsd_job_runs_total", .counter, "Job runs that ended since opsd started, by result (skipped and missed runs never started).", jobs.flatMap { job in
                Self.jobResults.map { sample(label(job) + [("result", $0.rawValue)], Double(job.tally.counts[$0] ?? 0)) }
            }),
            MetricFamily("opsd_job_running", .gauge, "1 while a run of the job is going on.", jobs.map { sample(label($0), $0.running ? 1 : 0) }),
            MetricFamily("opsd_job_last_run_timestamp_seconds", .gauge, "When each job's newest run started, in seconds since 1970.", jobs.compactMap { job in
                job.tally.lastStarted?.run.started.map { sample(label(job), epoch($0)) }
            }),
            MetricFamily("opsd_job_last_success_timestamp_seconds", .gauge, "When each job last ended successfully, in seconds since 1970.", jobs.compactMap { job in
                job.tally.lastSuccess.map { sample(label(job), epoch($0)) }
            }),
            MetricFamily("opsd_job_last_duration_seconds", .gauge, "How long each job's newest finished run took, retries included.", jobs.compactMap { job in
                job.tally.lastFinished?.run.duration.map { sample(label(job), $0) }
            }),
            MetricFamily("opsd_job_last_result", .gauge, "1 for the result of each job's newest finished run, 0 for the others.", jobs.flatMap { job in
                guard let last = job.tally.lastFinished?.run.result else { return [MetricFamily.Sample]() }
                return Self.startedResults.map { sample(label(job) + [("result", $0.rawValue)], $0 == last ? 1 : 0) }
            }),
            MetricFamily("opsd_job_next_run_timestamp_seconds", .gauge, "When each job fires next, in seconds since 1970.", jobs.compactMap { job in
                job.nextRun.map { sample(label(job), epoch($0)) }
            }),
        ]
    }

    /// The results of `opsd_backup_last_result`: committed and pushed (or no remote), committed but
    /// only on this host, or failed.
    static let backupResults = ["ok", "local", "failed"]

    var backupFamilies: [MetricFamily] {
        guard let backup else { return [] }
        let last = backup.lastRun
        let result = last.map { run in !run.succeeded ? "failed" : run.remoteConfigured && !run.remoteInSync ? "local" : "ok" }
        return [
            MetricFamily("opsd_backup_last_run_timestamp_seconds", .gauge, "When the newest backup ended, in seconds since 1970.", last.map { [sample([], epoch($0.finished))] } ?? []),
            MetricFamily("opsd_backup_last_success_timestamp_seconds", .gauge, "When a backup last committed (or found nothing to commit), in seconds since 1970.", backup.lastSuccess.map { [sample([], epoch($0))] } ?? []),
            MetricFamily(
                "opsd_backup_last_push_timestamp_seconds", .gauge, "When the remote last had every local commit, in seconds since 1970.",
                backupRemote ? backup.lastInSync.map { [sample([], epoch($0))] } ?? [] : []
            ),
            MetricFamily("opsd_backup_last_result", .gauge, "1 for how the newest backup ended (ok, local: committed but not pushed, failed), 0 for the others.", result.map { result in
                Self.backupResults.map { sample([("result", $0)], $0 == result ? 1 : 0) }
            } ?? []),
            MetricFamily("opsd_backup_last_duration_seconds", .gauge, "How long the newest backup took, push included.", last.flatMap { run in
                run.started.map { [sample([], run.finished.timeIntervalSince($0))] }
            } ?? []),
            MetricFamily("opsd_backup_last_stored_bytes", .gauge, "Bytes the newest backup added to the local repository (its packs).", last.flatMap { run in
                run.storedBytes.map { [sample([], Double($0))] }
            } ?? []),
            MetricFamily(
                "opsd_backup_last_pushed_bytes", .gauge,
                "Bytes of the packs the newest backup's push carried to the remote (its own and those of the backups that had stayed local).",
                backup.lastPushedBytes.map { [sample([], Double($0))] } ?? []
            ),
            MetricFamily("opsd_backup_unpushed_commits", .gauge, "Local backup commits the remote did not have after the newest backup.", last.map { [sample([], Double($0.unpushedCommits))] } ?? []),
        ]
    }

    var checkFamilies: [MetricFamily] {
        func label(_ report: CheckReport) -> [(name: String, value: String)] { [("check", report.name), ("kind", report.kind)] }
        var values: [String: [MetricFamily.Sample]] = [:]
        for report in checks {
            guard let latest = report.latest, let value = latest.value, let unit = CheckValueUnit(latest.unit) else { continue }
            values[unit.suffix, default: []].append(sample(label(report), value * unit.scale))
        }
        return [
            MetricFamily("opsd_check_state", .gauge, "Confirmed state of each check: 0 ok, 1 warn, 2 crit, 3 unknown or pending.", checks.map {
                sample(label($0), Double($0.effectiveState.exitCode))
            }),
        ] + CheckValueUnit.suffixes.map { suffix in
            MetricFamily("opsd_check_value\(suffix)", .gauge, CheckValueUnit.help(suffix), values[suffix] ?? [])
        } + [
            MetricFamily("opsd_check_duration_seconds", .gauge, "How long each check's last run took.", checks.compactMap { report in
                report.latest.map { sample(label(report), $0.durationSeconds) }
            }),
            MetricFamily("opsd_check_last_run_timestamp_seconds", .gauge, "When each check last ran, in seconds since 1970.", checks.compactMap { report in
                report.latest.map { sample(label(report), epoch($0.time)) }
            }),
        ]
    }

    var eventFamilies: [MetricFamily] {
        [
            MetricFamily("opsd_events_total", .counter, "Events emitted since opsd started, by kind.", EventKind.allCases.map {
                sample([("kind", $0.rawValue)], Double(events[$0] ?? 0))
            }),
            MetricFamily("opsd_event_drops_total", .counter, "Events a consumer (alerts, journal, history) dropped because its queue was full.", drops.keys.sorted().map {
                sample([("consumer", $0)], Double(drops[$0] ?? 0))
            }),
            MetricFamily(
                "opsd_alert_deliveries_total", .counter,
                "Alerts by route and result: delivered, failed (after its retries), dropped (queue full or over the route's limit).",
                deliveries.flatMap { route in
                    [("delivered", route.delivered), ("failed", route.failed), ("dropped", route.dropped)].map {
                        sample([("route", route.route), ("result", $0.0)], Double($0.1))
                    }
                }
            ),
        ]
    }
}

/// The unit of a check's value as Prometheus wants it: one family per unit, in base units.
/// Values in a unit opsd does not know (a plugin's own) are left out rather than mixed in.
struct CheckValueUnit: Equatable {
    /// The family's suffix after `opsd_check_value`.
    var suffix: String
    /// What the value is multiplied by to reach the base unit.
    var scale: Double

    /// Every suffix, in the order of the output.
    static let suffixes = ["", "_ratio", "_seconds", "_bytes", "_items"]

    /// The unit for a check result's `unit` (the kinds' words, `percent`, `ms`, `items`, `h`, and
    /// the performance data units of monitoring plugins); nil for one that has no base unit here.
    init?(_ unit: String?) {
        switch unit ?? "" {
        case "", "c": (suffix, scale) = ("", 1)
        case "percent", "%": (suffix, scale) = ("_ratio", 0.01)
        case "s": (suffix, scale) = ("_seconds", 1)
        case "ms": (suffix, scale) = ("_seconds", 0.001)
        case "us": (suffix, scale) = ("_seconds", 0.000_001)
        case "h": (suffix, scale) = ("_seconds", 3600)
        case "d": (suffix, scale) = ("_seconds", 86400)
        case "B": (suffix, scale) = ("_bytes", 1)
        case "KB": (suffix, scale) = ("_bytes", 1024)
        case "MB": (suffix, scale) = ("_bytes", 1_048_576)
        case "GB": (suffix, scale) = ("_bytes", 1_073_741_824)
        case "TB": (suffix, scale) = ("_bytes", 1_099_511_627_776)
        case "items": (suffix, scale) = ("_items", 1)
        default: return nil
        }
    }

    static func help(_ suffix: String) -> String {
        switch suffix {
        case "_ratio": "The value each percentage check (disk, memory) measured in its last run, as a ratio (0.85 is 85%)."
        case "_seconds": "The value each latency or age check (http, sqlite, backup) measured in its last run, in seconds."
        case "_bytes": "The value each check measuring a size measured in its last run, in bytes."
        case "_items": "The count each queue check measured in its last run."
        default: "The unitless value each check measured in its last run (a sqlite query's number, a plugin's value)."
        }
    }
}
