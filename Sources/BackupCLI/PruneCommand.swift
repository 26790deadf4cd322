import ArgumentParser
import Backup
import Foundation
import Logging
import OpsAPI
import OpsConfig
import OpsLogging

extension BackupCommand {
    /// `opsctl backup prune [--dry-run] [--json]`.
    struct Prune: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Drop the backups backup.keep does not keep, locally and on the remote.",
            discussion: """
                backup.keep has restic's forget rules: last, hourly, daily, weekly, monthly, yearly \
                (the newest backup of each of the N most recent periods that have one; periods in \
                this host's local time). The branch is rewritten with the kept backups only (each \
                unchanged), the repository repacked so the dropped ones leave the disk, and the \
                branch force-pushed; the remote frees the space at its own gc \
                (docs/backup-format.md, Retention).

                Exit status: 0 when pruned (or nothing to drop); 1 when it failed (the repository \
                is unchanged or still complete); 2 when pruned locally but the push failed (the \
                next prune pushes it).

                Examples:
                  opsctl backup prune --dry-run   what would be kept (and why) and dropped
                  opsctl backup prune             do it
                """
        )

        @OptionGroup var connection: ConfigOptions

        @Flag(help: "Say what would be kept and dropped; change nothing.")
        var dryRun = false

        @Flag(help: "Print the outcome as JSON.")
        var json = false

        func run() async throws {
            try await reportingFailures {
                let context = try BackupContext(options: connection, progress: .standardError(enabled: !json))
                guard let keep = context.configuration.backup?.keep else {
                    throw Failure("backup.keep is not set, so every backup is kept; add e.g. keep: {daily: 7, weekly: 4, monthly: 12} to the backup: section")
                }
                let outcome: PruneOutcome
                do { outcome = try await context.runner.prune(keep: keep, dryRun: dryRun) } catch { throw Failure("\(error)") }
                if json {
                    print(try WireJSON.text(outcome))
                } else {
                    print(PruneText.render(outcome, remote: context.runner.plan.remote?.url))
                }
                if outcome.push.state == .failed { throw ExitCode(2) }
            }
        }
    }
}

extension BackupCommand.Prune {
    /// The prune after a scheduled backup: its failure is logged (the journal, under the job's
    /// name) and leaves the backup's own result alone; the next run prunes again.
    /// Without `keep`, only the compaction: one pack again once packs have piled up.
    static func afterScheduledBackup(_ context: BackupContext, keep: BackupKeep?) async {
        let logger = Logger(label: "opsctl.backup")
        do {
            guard let keep else {
                let packs = try await context.runner.compact()
                if packs.before != packs.after { logger.notice("backup repository compacted", metadata: ["packs_before": "\(packs.before)", "packs_after": "\(packs.after)"]) }
                return
            }
            let outcome = try await context.runner.prune(keep: keep, dryRun: false)
            logger.notice("backup prune", metadata: ["kept": "\(outcome.kept.count)", "dropped": "\(outcome.dropped.count)", "push": "\(outcome.push.state.rawValue)"])
        } catch {
            logger.error("backup prune or compaction failed; the backup itself is committed, and the next scheduled backup tries again", metadata: ["error": "\(error.description)"])
        }
    }
}

/// The human form of a prune's outcome, like restic's forget: kept with reasons, then dropped.
enum PruneText {
    static func render(_ outcome: PruneOutcome, remote: String?) -> String {
        var lines = ["\(outcome.dryRun ? "would keep" : "kept") \(outcome.kept.count) backup(s) on branch \(outcome.branch):"]
        for entry in outcome.kept { lines.append("  \(entry.commit.prefix(12))  \(entry.time)  \(entry.reasons.joined(separator: ", "))  \(entry.summary)") }
        lines.append("\(outcome.dryRun ? "would drop" : "dropped") \(outcome.dropped.count) backup(s)\(outcome.dropped.isEmpty ? "" : ":")")
        for entry in outcome.dropped { lines.append("  \(entry.commit.prefix(12))  \(entry.time)  \(entry.summary)") }
        if outcome.dryRun { return lines.joined(separator: "\n") }
        lines.append("repository: \(outcome.packsBefore) pack(s), \(ByteCount.format(outcome.bytesBefore)) -> \(outcome.packsAfter) pack(s), \(ByteCount.format(outcome.bytesAfter))")
        switch outcome.push.state {
        case .notConfigured: lines.append("push: no backup.remote configured")
        case .pushed: lines.append(outcome.dropped.isEmpty && outcome.push.pushedCommits == 0 ? "push: the remote was already up to date" : "push: the pruned branch is on \(remote ?? "the remote"); it frees the space at its next gc")
        case .failed: lines.append("push FAILED: \(outcome.push.error ?? "unknown error"); run `opsctl backup prune` again to push the pruned branch (backups are not pushed until then)")
        }
        return lines.joined(separator: "\n")
    }
}
