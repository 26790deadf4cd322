public import FoundationEssentials
import Glibc
import Scheduling

/// The `backup` check kind: is there a recent backup, and has it left the machine?
///
/// A pure function of the recorded history and the time, so the check needs no repository access
/// and the rules are tested without one.
public enum BackupFreshness {
    /// The check's verdict.
    public enum Level: String, Sendable, Equatable {
        /// A recent backup has left the machine.
        case ok
        /// Only the local commit succeeded lately (or the latest run failed while an older one is fresh).
        case warning
        /// No backup reached safety within the allowed age.
        case critical
    }

    /// The verdict and a one-sentence explanation.
    public struct Verdict: Sendable, Equatable {
        /// OK, WARN or CRIT.
        public var level: Level
        /// What the operator reads in `opsctl health`.
        public var message: String
    }

    /// Evaluates the history at `now`:
    /// - OK on a fresh install that has not tried a backup yet, for `maxAge` from when it began
    ///   recording backups (`trackedSince`): the first scheduled backup is not due yet, and an
    ///   install must not start CRITICAL (the same allowance a backup gets after each success);
    /// - CRIT when no backup reached safety within `maxAge`: the last time the remote had every
    ///   commit (or, without a remote, the last local success) is older than that, or never was;
    /// - WARN when the latest run committed locally but its push failed (or the run itself failed
    ///   while an older backup is still fresh);
    /// - OK otherwise.
    public static func evaluate(_ summary: BackupRecordSummary, remoteConfigured: Bool, maxAge: Duration, now: Date) -> Verdict {
        let maxSeconds = maxAge.seconds
        let safe = remoteConfigured ? summary.lastInSync : summary.lastSuccess
        let place = remoteConfigured ? "pushed to the remote" : "completed"
        guard let safe else {
            if summary.lastRun == nil, let since = summary.trackedSince, now.timeIntervalSince(since) <= maxSeconds {
                let age = max(0, now.timeIntervalSince(since))
                return Verdict(level: .ok, message: "no backup yet on this install (recording since \(describe(age)) ago); the first must be \(place) within \(describe(maxSeconds - age))")
            }
            return Verdict(level: .critical, message: "no backup has ever been \(place)" + failureSuffix(summary))
        }
        let age = now.timeIntervalSince(safe)
        if age > maxSeconds {
            return Verdict(level: .critical, message: "the last backup \(place) is \(describe(age)) old, more than the allowed \(describe(maxSeconds))" + failureSuffix(summary))
        }
        if let run = summary.lastRun, !run.succeeded {
            return Verdict(level: .warning, message: "the latest backup failed, but one \(place) \(describe(age)) ago is still within \(describe(maxSeconds))" + failureSuffix(summary))
        }
        if remoteConfigured, let run = summary.lastRun, !run.remoteInSync {
            return Verdict(level: .warning, message: "the latest backup is committed locally only: \(run.unpushedCommits) commit(s) not pushed" + failureSuffix(summary))
        }
        return Verdict(level: .ok, message: "last backup \(place) \(describe(age)) ago")
    }

    private static func failureSuffix(_ summary: BackupRecordSummary) -> String {
        guard let error = summary.lastRun?.error else { return "" }
        return " (last error: \(error))"
    }

    /// Whole seconds in the config's duration syntax (`1d2h3m`), so messages read like the config.
    private static func describe(_ seconds: Double) -> String {
        DurationText.format(.seconds(Int64(seconds.rounded())))
    }
}
