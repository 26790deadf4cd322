public import BackupRecords
public import Foundation

extension BackupHistory {
    /// Records a finished backup, under `runID` when its starter gave one.
    public func record(started: Date, finished: Date, outcome: BackupOutcome, runID: String? = nil) async throws {
        try await recordSuccess(
            started: started, finished: finished, commit: outcome.commit, remoteConfigured: outcome.push.state != .notConfigured,
            remoteInSync: outcome.push.state == .pushed, unpushedCommits: outcome.push.unpushedCommits, pushError: outcome.push.error,
            runID: runID, storedBytes: outcome.storedBytes, failedParts: outcome.partial ? PartFailure.summary(outcome.failures) : nil)
    }
}
