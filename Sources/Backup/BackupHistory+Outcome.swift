public import BackupRecords
public import Foundation

extension BackupHistory {
    /// Records a finished backup.
    public func record(started: Date, finished: Date, outcome: BackupOutcome) throws {
        try recordSuccess(
            started: started, finished: finished, commit: outcome.commit, remoteConfigured: outcome.push.state != .notConfigured,
            remoteInSync: outcome.push.state == .pushed, unpushedCommits: outcome.push.unpushedCommits, pushError: outcome.push.error)
    }
}
