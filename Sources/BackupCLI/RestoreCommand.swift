import ArgumentParser
import Backup
import ControlPlane
import Foundation
import OpsAPI
import OpsConfig
import OpsLogging

struct RestoreCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "restore",
        abstract: "Restore databases from a backup, verified before anything is replaced.",
        discussion: """
            Checks the sizes each manifest claims against the backup's objects, rebuilds each \
            database, checks its SHA-256 against the manifest and runs PRAGMA integrity_check. \
            Only when every database passed: without --to, the live file is kept as \
            FILE.pre-restore-<time> (a hard link; its -wal/-shm move with it; never overwriting an \
            earlier one) and the restored file, given the live file's owner and mode, is renamed \
            over it, so the path never goes missing. In place, only databases listed in \
            backup.databases are restored (matched by name); another one needs --to. A damaged \
            backup is refused and nothing is touched.

            Workers listed for a database (backup.databases: [{path: ..., workers: [app]}]) are \
            stopped through opsd before the swap and started again afterwards, also when the \
            restore fails. Any other process that has the database open makes the restore refuse, \
            unless --force.

            Examples:
              opsctl restore                        the latest backup, in place
              opsctl restore --db app --to /tmp/a.db  one database, elsewhere
              opsctl restore --at 2026-11-20        the last backup of that day (UTC)
              opsctl restore --at 1a2b3c4d          by commit (see opsctl backup list)
              opsctl restore --from-remote          a new machine: fetch, then restore
              opsctl restore --from-remote --branch old-host
                                                    a new machine: the old host's backups
              opsctl restore --dry-run              what would be restored where; writes nothing
              opsctl restore --to /srv/restored/    into a directory, made (0700) if missing
              opsctl restore --files --dry-run      the config files' diffs against the backup
              opsctl restore --files --to /tmp/cfg  the config files under /tmp/cfg/etc/...
              opsctl restore --from-remote --identity key.txt
                                                    an encrypted remote (backup.encrypt)

            --files restores the files of backup.files instead of the databases: each file that \
            differs is shown first as a unified diff (now → backup), then written (an existing \
            one kept as FILE.pre-restore-<time>, its owner and mode kept; a new one 0600). The \
            configuration file, stored with its secrets masked, is never restored: take it by \
            hand from `git show`.

            --to names a file, or a directory: one that exists, one written with a trailing /, or \
            a missing one when several databases are restored. A missing directory is made, each \
            missing level with mode 0700 (the data is the application's, whoever its parent lets \
            in), and removed again if the restore fails; one that cannot be made is named in the \
            error, and nothing is restored.

            A restore that succeeded is recorded as a `restore` event in opsd's event history \
            (`opsctl events`), when the state database exists, and in a line on stderr.

            On a terminal, one line on stderr shows the phase (fetch, write, verify), bytes \
            done, rate and time left; not with --json, nor when stderr is a pipe or a file.

            Exit status: 0 when restored, 1 otherwise.
            """
    )

    @OptionGroup var connection: ConfigOptions

    @Option(help: ArgumentHelp("latest (default), a commit id, a date (YYYY-MM-DD, end of day UTC) or an ISO 8601 time.", valueName: "when"))
    var at: String?

    @Option(help: ArgumentHelp("Only this database (its file name without extension).", valueName: "name"))
    var db: String?

    @Option(help: ArgumentHelp("Write here instead of over the live database: a file, or a directory (made 0700 if missing, e.g. --to /srv/restored/); with --files, the directory the files go below.", valueName: "path"))
    var to: String?

    @Flag(help: "Fetch the backup branch from backup.remote first and restore from it.")
    var fromRemote = false

    @Option(help: ArgumentHelp("Restore from another host's branch instead (default: backup.remote.branch, the host name), e.g. --branch old-host; `opsctl backup list --branch` shows its backups.", valueName: "name"))
    var branch: String?

    @Option(help: ArgumentHelp("The age identity file (AGE-SECRET-KEY-1…) that decrypts an encrypted remote (backup.encrypt), e.g. --from-remote --identity key.txt.", valueName: "file"))
    var identity: String?

    @Flag(help: "Replace a database that another process has open, or an existing --to file.")
    var force = false

    @Flag(help: "Restore the config files of backup.files instead of the databases, each shown as a diff first, e.g. opsctl restore --files --to /tmp/cfg.")
    var files = false

    @Flag(help: "Say what would be restored where (commit, each database to its path, sizes) and change nothing, e.g. opsctl restore --dry-run --at 2026-11-20.")
    var dryRun = false

    @Flag(help: "Print the outcome as JSON.")
    var json = false

    func validate() throws {
        if files, db != nil { throw ValidationError("--files restores config files, --db a database; pass one of them") }
    }

    func run() async throws {
        if files { return try await runFiles() }
        try await reportingFailures {
            // Progress for a person at a terminal; none for --json, cron and pipes.
            let context = try BackupContext(options: connection, progress: .standardError(enabled: !json))
            let request = RestoreRequest(at: at, database: db, to: to, fromRemote: fromRemote, force: force, branch: branch, dryRun: dryRun)
            let outcome: RestoreOutcome
            let hooks = WorkerHooks(configuration: context.configuration).hooks
            do { outcome = try await context.runner.reading(identityFile: identity).restore(request, hooks: dryRun ? nil : hooks) } catch { throw Failure("\(error)") }
            if dryRun {
                print(json ? try WireJSON.text(outcome) : Self.preview(outcome))
                return
            }
            let record = RestoreRecord(outcome: outcome, inPlace: to == nil)
            let recorded = await record.record(stateDirectory: context.configuration.daemon.stateDirectory)
            FileHandle.standardError.write(Data((recorded + "\n").utf8))
            if json {
                print(try WireJSON.text(outcome))
                return
            }
            print("restored from backup \(outcome.commit.prefix(12)) of \(outcome.time):")
            for directory in outcome.createdDirectories ?? [] { print("  created directory \(directory) (mode 0700)") }
            for database in outcome.databases {
                print("  \(database.name) → \(database.path) (\(ByteCount.format(database.size)), SHA-256 and integrity check passed)")
                if let aside = database.safetyCopy { print("    the previous file is kept as \(aside)") }
            }
            if let workers = outcome.workersRestarted { print("workers stopped for the swap and started again: \(workers.joined(separator: ", "))") }
        }
    }

    /// `--files`: the diffs, then the files written (not with --dry-run).
    private func runFiles() async throws {
        try await reportingFailures {
            let context = try BackupContext(options: connection, progress: .standardError(enabled: !json))
            let request = FileRestoreRequest(at: at, to: to, fromRemote: fromRemote, branch: branch, dryRun: dryRun)
            let outcome: FileRestoreOutcome
            do { outcome = try await context.runner.reading(identityFile: identity).restoreFiles(request) } catch { throw Failure("\(error)") }
            if json {
                print(try WireJSON.text(outcome))
                return
            }
            let changed = outcome.files.filter { $0.state != "unchanged" }
            for file in changed { print(file.diff ?? "", terminator: file.diff?.hasSuffix("\n") == false ? "\n" : "") }
            let verb = dryRun ? "dry run: would restore" : "restored"
            print("\(verb) \(changed.count) of \(outcome.files.count) file(s) from backup \(outcome.commit.prefix(12)) of \(outcome.time)\(dryRun ? " (nothing was written)" : ""):")
            for file in outcome.files {
                let note = file.state == "unchanged" ? "unchanged" : file.safetyCopy.map { "\(file.state), the previous file kept as \($0)" } ?? file.state
                print("  \(file.path) → \(file.target) (\(note))")
            }
            for path in outcome.masked { print("  \(path): stored with its secrets masked, not restored; see it with `git --git-dir REPO show \(outcome.commit.prefix(12)):files\(path)`") }
        }
    }

    /// The human form of a dry run.
    static func preview(_ outcome: RestoreOutcome) -> String {
        var lines = ["dry run: would restore from backup \(outcome.commit.prefix(12)) of \(outcome.time) (nothing was written):"]
        for directory in outcome.createdDirectories ?? [] { lines.append("  would create directory \(directory) (mode 0700)") }
        for database in outcome.databases {
            let replacing = database.safetyCopy.map { _ in ", replacing the live file (kept as \(database.path).pre-restore-<time>)" }
                ?? (FileManager.default.fileExists(atPath: database.path) ? ", over an existing file (needs --force)" : ", a new file")
            lines.append("  \(database.name) → \(database.path) (\(ByteCount.format(database.size)), SHA-256 \(database.sha256.prefix(16))…\(replacing))")
        }
        lines.append("sizes checked against the backup's objects; the restore itself verifies SHA-256 and PRAGMA integrity_check before replacing anything")
        return lines.joined(separator: "\n")
    }
}

/// Stops and starts the workers that use the restored databases, through opsd's control socket.
struct WorkerHooks {
    let configuration: Configuration

    var hooks: RestoreHooks? {
        guard let workers = configuration.backup?.databaseWorkers, !workers.isEmpty else { return nil }
        let client = ControlClient(socketPath: configuration.daemon.socket, timeout: .seconds(120))
        return RestoreHooks(
            stopWorkers: { (databases: [String]) throws(BackupError) -> [String] in
                var names: [String] = []
                for database in databases { for name in workers[database] ?? [] where !names.contains(name) { names.append(name) } }
                var stopped: [String] = []
                for name in names {
                    do {
                        let response = try client.sendBlocking(ControlRequest(method: "POST", path: "/v1/workers/\(name)/stop"))
                        guard (200..<300).contains(response.status) else {
                            throw BackupError("opsd could not stop worker \(name) (status \(response.status)); nothing was restored")
                        }
                        stopped.append(name)
                        StderrLine.write("opsctl: stopped worker \(name) for the restore")
                    } catch let error as ControlClientError {
                        if case .notRunning = error { return stopped }
                        if case .staleSocket = error { return stopped }
                        throw BackupError("cannot reach opsd to stop worker \(name): \(error)")
                    } catch let error as BackupError {
                        throw error
                    } catch {
                        throw BackupError("\(error)")
                    }
                }
                return stopped
            },
            startWorkers: { names in
                for name in names {
                    let status = (try? client.sendBlocking(ControlRequest(method: "POST", path: "/v1/workers/\(name)/start")))?.status ?? 0
                    StderrLine.write((200..<300).contains(status)
                        ? "opsctl: started worker \(name) again"
                        : "opsctl: could not start worker \(name) again; start it with `opsctl workers start \(name)`")
                }
            })
    }
}
