import ArgumentParser
import Backup
import Foundation
import OpsConfig

struct RestoreCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "restore",
        abstract: "Restore databases from a backup, verified before anything is replaced.",
        discussion: """
            Rebuilds each database from the backup, checks its SHA-256 against the manifest and \
            runs PRAGMA integrity_check. Only when every database passed: without --to, the live \
            file and its -wal/-shm are moved aside to FILE.pre-restore-<time> and the restored file \
            is renamed into place. A damaged backup is refused and nothing is touched.

            Stop the application first: a database that another process has open is refused \
            unless --force.

            Examples:
              opsctl restore                        the latest backup, in place
              opsctl restore --db app --to /tmp/a.db  one database, elsewhere
              opsctl restore --at 2026-11-20        the last backup of that day (UTC)
              opsctl restore --at 1a2b3c4d          by commit (see opsctl backup list)
              opsctl restore --from-remote          a new machine: fetch, then restore

            Exit status: 0 when restored, 1 otherwise.
            """
    )

    @OptionGroup var connection: ConfigOptions

    @Option(help: ArgumentHelp("latest (default), a commit id, a date (YYYY-MM-DD, end of day UTC) or an ISO 8601 time.", valueName: "when"))
    var at: String?

    @Option(help: ArgumentHelp("Only this database (its file name without extension).", valueName: "name"))
    var db: String?

    @Option(help: ArgumentHelp("Write here (a file, or an existing directory) instead of over the live database.", valueName: "path"))
    var to: String?

    @Flag(help: "Fetch the backup branch from backup.remote first and restore from it.")
    var fromRemote = false

    @Flag(help: "Replace a database that another process has open, or an existing --to file.")
    var force = false

    @Flag(help: "Print the outcome as JSON.")
    var json = false

    func run() async throws {
        try await reportingFailures {
            let context = try BackupContext(options: connection)
            let request = RestoreRequest(at: at, database: db, to: to, fromRemote: fromRemote, force: force)
            let outcome: RestoreOutcome
            do { outcome = try await context.runner.restore(request) } catch { throw Failure("\(error)") }
            if json {
                print(String(decoding: try JSONEncoder.sortedPretty.encode(outcome), as: UTF8.self))
                return
            }
            print("restored from backup \(outcome.commit.prefix(12)) of \(outcome.time):")
            for database in outcome.databases {
                print("  \(database.name) → \(database.path) (\(ByteCount.format(database.size)), SHA-256 and integrity check passed)")
                if let aside = database.safetyCopy { print("    the previous file is kept as \(aside)") }
            }
        }
    }
}
