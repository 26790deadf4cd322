import Backup
import EventLog
import Events
import Foundation
import StateStore

/// The `restore` event of a restore that succeeded, put straight into opsd's event history (opsd
/// may be stopped, and a restore is the moment one wants the record), and a line on stderr
/// either way. A state database that does not exist yet is not created for it (a new machine
/// restoring before opsd ever ran), and nothing here can fail the restore: it is done.
struct RestoreRecord {
    let outcome: RestoreOutcome
    let inPlace: Bool

    /// The backup's name in events: the one the scheduled backup job has (`Configuration.scheduledJobs`).
    static let subject = Subject(.backup, "backup")

    /// One sentence and the facts behind it: names and numbers only, never a path.
    var event: Event {
        let names = outcome.databases.map(\.name)
        let commit = String(outcome.commit.prefix(12))
        let databases = names.count == 1 ? "database \(names[0])" : "databases \(names.joined(separator: ", "))"
        let target = inPlace ? "" : " to another path"
        var fields = ["commit": commit, "databases": names.joined(separator: ","), "count": "\(names.count)", "in_place": "\(inPlace)"]
        if let workers = outcome.workersRestarted { fields["workers_restarted"] = workers.joined(separator: ",") }
        return Event(.restore, subject: Self.subject, message: "\(databases) restored\(target) from backup \(commit) of \(outcome.time)", fields: fields)
    }

    /// Appends the event to the history in `stateDirectory` when its database is there; returns
    /// the line that says where the record went.
    func record(stateDirectory: String) async -> String {
        let event = event
        guard FileManager.default.fileExists(atPath: StateDatabase.path(in: stateDirectory)) else {
            return "opsctl: \(event.message); opsd's event history does not exist yet (\(StateDatabase.path(in: stateDirectory))), so this line is the only record"
        }
        do {
            try await EventHistory(database: try StateDatabase(stateDirectory: stateDirectory)).append([event])
            return "opsctl: \(event.message); recorded in opsd's event history (opsctl events)"
        } catch {
            return "opsctl: \(event.message); it could not be recorded in opsd's event history (\(error)), so this line is the only record"
        }
    }
}
