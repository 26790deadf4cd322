import ArgumentParser
import Backup
import Foundation
import Logging
import OpsAPI
import OpsConfig
import OpsLogging

/// The `backup:` section of the configuration, loaded in-process: backups and restores run inside
/// opsctl itself (the repository lock keeps them from overlapping with opsd's own backups).
struct BackupContext {
    let runner: BackupRunner
    let configuration: Configuration

    /// `progress` draws the phases on a terminal (`ProgressReporter.standardError`), or nil.
    init(options: ConfigOptions, pushAttempts: Int = 4, progress: ProgressReporter? = nil) throws {
        let result = ConfigLoader.read(path: options.configPath)
        guard FileManager.default.fileExists(atPath: result.path) else {
            throw Failure("\(result.path): no such file; pass --config PATH")
        }
        guard result.diagnostics.isEmpty else {
            throw Failure("\(result.path) has \(result.diagnostics.count) problem(s); run `opsctl config check` and fix them first")
        }
        // Log lines (push retries) go to stderr, so stdout stays clean for --json, in opsctl's
        // own format (human on a terminal, JSON lines elsewhere, which opsd's relay reads as fields).
        StderrLogHandler.bootstrap(level: .warning)
        configuration = result.configuration
        do {
            runner = try BackupRunner(
                configuration: result.configuration, configPath: result.path, logger: Logger(label: "opsctl.backup"), pushAttempts: pushAttempts,
                observer: OpsctlBackup.observer.withLock { $0 }, progress: progress
            )
        } catch {
            throw Failure(error.description)
        }
    }
}

struct BackupCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "backup",
        abstract: "Back up the configured databases and files to git, or list the backups.",
        discussion: """
            Runs in this process from the configuration's backup: section (opsd need not run). \
            Each database is snapshotted with SQLite's online backup API; only the bytes that \
            changed since the previous backup are stored (docs/backup-format.md). Nothing is \
            committed when nothing changed. Every local commit the remote lacks is pushed.

            Examples:
              opsctl backup                   take a backup now
              opsctl backup list              backups, newest first; pushed or not
              opsctl restore --to /tmp/x.db   the latest backup, beside the live db
            """,
        subcommands: [Now.self, List.self, Prune.self],
        defaultSubcommand: Now.self
    )

    struct Now: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Take a backup now (the default).",
            discussion: """
                Exit status: 0 when the backup is committed (or nothing changed) and the remote has \
                it; 1 when the backup failed (nothing changed in the repository); 2 when it is \
                committed locally but the push failed (the next backup pushes it); 3 when it is \
                partial: some parts failed (a database that is not SQLite, an unreadable file, a \
                failed backup.before command; each is named on stderr with why) and the others \
                were committed and pushed as usual (3 wins over 2; the push line says how it went). \
                Only one backup or restore runs at a time per repository; a second one exits 1 at once.

                On a terminal, one line on stderr shows the phase, bytes done, rate and time \
                left; not with --json, nor when stderr is a pipe or a file.
                """
        )

        @OptionGroup var connection: ConfigOptions

        @Flag(help: "Print the outcome as JSON.")
        var json = false

        // opsd's scheduled backup passes one per run and reads back exactly that record; not for people.
        @Option(name: .customLong("run-id"), help: ArgumentHelp("Record the outcome under this id (letters, digits, '-', at most 64).", visibility: .hidden))
        var runID: String?

        func validate() throws {
            if let runID, runID.isEmpty || runID.count > 64 || !runID.allSatisfy({ ($0.isASCII && ($0.isLetter || $0.isNumber)) || $0 == "-" }) {
                throw ValidationError("--run-id \(runID) is not a run id; use letters, digits and '-' (at most 64), e.g. a UUID")
            }
        }

        func run() async throws {
            try await reportingFailures {
                // Progress for a person at a terminal; none for --json, cron, pipes and opsd's jobs.
                let context = try BackupContext(options: connection, progress: .standardError(enabled: !json))
                let outcome: BackupOutcome
                do { outcome = try await context.runner.run(runID: runID) } catch { throw Failure("\(error)") }
                if json {
                    print(try WireJSON.text(outcome))
                } else {
                    print(BackupText.render(outcome, remote: context.runner.plan.remote?.url))
                }
                for failure in outcome.failures { FileHandle.standardError.write(Data("opsctl: backup: FAILED \(failure)\n".utf8)) }
                // opsd's scheduled backups (the only callers with --run-id) prune by backup.keep after each run.
                if runID != nil { await Prune.afterScheduledBackup(context, keep: context.configuration.backup?.keep) }
                if outcome.partial { throw ExitCode(3) }
                if outcome.push.state == .failed { throw ExitCode(2) }
            }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List the backups on this host's branch (or another's), newest first.",
            discussion: """
                Each line: commit, time (UTC), pushed or local only, and the summary. Pass a commit \
                or time to `opsctl restore --at`. A branch that does not exist is an error naming \
                the branches there are (here, or on the remote with --from-remote).

                Examples:
                  opsctl backup list                                  this host's backups
                  opsctl backup list --from-remote --branch old-host  the old host's, on a new machine
                """
        )

        @OptionGroup var connection: ConfigOptions

        @Flag(help: "Fetch from the remote first and list what it has (on a new machine).")
        var fromRemote = false

        @Option(help: ArgumentHelp("List another host's branch instead (default: backup.remote.branch, the host name), e.g. --branch old-host.", valueName: "name"))
        var branch: String?

        @Option(help: ArgumentHelp("The age identity file (AGE-SECRET-KEY-1…) that decrypts an encrypted remote's backups (backup.encrypt), with --from-remote.", valueName: "file"))
        var identity: String?

        @Flag(help: "Print the list as JSON: [{commit, time, summary, pushed}].")
        var json = false

        func run() async throws {
            try await reportingFailures {
                let context = try BackupContext(options: connection, progress: .standardError(enabled: fromRemote && !json))
                let entries: [BackupEntry]
                do { entries = try await context.runner.reading(identityFile: identity).list(fromRemote: fromRemote, branch: branch) } catch { throw Failure("\(error)") }
                if json {
                    print(try WireJSON.text(entries))
                } else if entries.isEmpty {
                    print("no backups yet on branch \(branch ?? context.runner.plan.branch); run `opsctl backup`")
                } else {
                    for entry in entries {
                        print("\(entry.commit.prefix(12))  \(entry.time)  \(entry.pushed ? "pushed" : "local ")  \(entry.summary)")
                    }
                }
            }
        }
    }
}

/// The human form of a backup's outcome.
enum BackupText {
    static func render(_ outcome: BackupOutcome, remote: String?) -> String {
        var lines: [String] = []
        if let commit = outcome.commit {
            lines.append("backup committed \(commit.prefix(12)) on branch \(outcome.branch) (+\(ByteCount.format(outcome.storedBytes)) in the repository, \(String(format: "%.1f", outcome.seconds))s)")
        } else {
            lines.append("nothing changed since the previous backup; no commit (branch \(outcome.branch))")
        }
        for database in outcome.databases {
            switch database.layout {
            case .unchanged: lines.append("  \(database.name): unchanged")
            case .full: lines.append("  \(database.name): full snapshot, \(ByteCount.format(database.size)), stored \(ByteCount.format(database.storedBytes))")
            case .delta: lines.append("  \(database.name): \(database.pagesChanged) of \(database.pageCount) pages changed, stored \(ByteCount.format(database.storedBytes))")
            }
        }
        lines.append("  files: \(outcome.fileCount)")
        for missing in outcome.missingFiles { lines.append("  warning: \(missing) does not exist; skipped") }
        for secret in outcome.secretFilesLeftOut { lines.append("  warning: \(secret) is a secret; not stored (leave it out of backup.files)") }
        for link in outcome.linksNotFollowed { lines.append("  warning: \(link) is a symbolic link; not followed, not stored (name its target in backup.files)") }
        for path in outcome.maskedFiles { lines.append("  \(path): stored with its secret values masked") }
        if outcome.partial { lines.append("PARTIAL backup: \(outcome.failures.count) part(s) failed (named on stderr); the rest is in the backup") }
        switch outcome.push.state {
        case .notConfigured: lines.append("push: no backup.remote configured; the backup is on this machine only")
        case .pushed:
            lines.append(outcome.push.pushedCommits == 0 ? "push: the remote was already up to date" : "push: sent \(outcome.push.pushedCommits) commit(s) to \(remote ?? "the remote")")
        case .failed:
            lines.append("push FAILED: \(outcome.push.error ?? "unknown error")")
            lines.append("  \(outcome.push.unpushedCommits) commit(s) are local only; the next backup pushes them")
        }
        return lines.joined(separator: "\n")
    }
}
