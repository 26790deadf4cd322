import FoundationEssentials

/// The last backup, as opsd reports it in its status: the verdict of a `backup:` check when one
/// is configured (its max_age decides), else the status' own record (a last error, never run,
/// commits not pushed).
struct BackupFreshnessDoctorCheck: DoctorCheck {
    func run(in context: DoctorContext) async -> [DoctorFinding] {
        guard context.configuration.backup != nil else {
            return [.skipped("backup", "\(context.load.path) configures no backup")]
        }
        guard case .success(let report) = context.status, let backup = report.backup else {
            return [.skipped("backup", "opsd does not answer, so the last backup's outcome is unknown")]
        }
        let checks = report.checks.filter { $0.kind == "backup" }
        if !checks.isEmpty {
            return checks.map { check in
                let message = "check \(check.name): \(check.message ?? check.state.rawValue)"
                switch check.state {
                case .ok: return .ok("backup", message)
                case .pending: return .skipped("backup", "check \(check.name) has not run yet")
                case .warn, .unknown: return .warn("backup", message, fix: "run `opsctl backup` and read what it says, then check the backup schedule")
                case .crit: return .fail("backup", message, fix: "run `opsctl backup` and read what it says, then check the backup schedule")
                }
            }
        }
        if let error = backup.lastError {
            return [.warn("backup", "the last backup failed: \(error)", fix: "correct that and run `opsctl backup`")]
        }
        guard let last = backup.lastBackupAt else {
            let fix = backup.schedule == nil ? "run `opsctl backup`, and give backup.schedule or use opsd-backup.timer (deploy/README.md)" : "run `opsctl backup` once now rather than waiting for the schedule"
            return [.warn("backup", "no backup of \(backup.repository) has been taken yet", fix: fix)]
        }
        if backup.remote != nil, let pending = backup.unpushedCommits, pending > 0 {
            return [.warn("backup", "\(pending) backup commit(s) have not reached the remote \(backup.remote ?? "")", fix: "run `opsctl backup` and read why the push fails")]
        }
        let age = StatusText.duration(Date().timeIntervalSince(last))
        return [.ok("backup", "last backup \(age) ago\(backup.remote == nil ? "" : ", pushed")")]
    }
}
