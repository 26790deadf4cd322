import Backup
import Foundation
import Testing
import BackupRecords

@Suite("The backup check: freshness from the recorded history")
struct FreshnessTests {
    let now = Date(timeIntervalSince1970: 1_800_000_000)

    func run(_ agoSeconds: Double, succeeded: Bool = true, inSync: Bool = true, unpushed: Int = 0, error: String? = nil) -> BackupRecordSummary.Run {
        .init(finished: now.addingTimeInterval(-agoSeconds), succeeded: succeeded, remoteConfigured: true, remoteInSync: inSync, unpushedCommits: unpushed, error: error)
    }

    @Test("never pushed is CRIT")
    func never() {
        let verdict = BackupFreshness.evaluate(BackupRecordSummary(), remoteConfigured: true, maxAge: .seconds(86400), now: now)
        #expect(verdict.level == .critical)
        #expect(verdict.message == "no backup has ever been pushed to the remote")
    }

    @Test("a last push older than the allowed age is CRIT, even when local commits succeed")
    func stalePush() {
        let summary = BackupRecordSummary(lastRun: run(60, inSync: false, unpushed: 3, error: "push failed"), lastSuccess: now.addingTimeInterval(-60), lastInSync: now.addingTimeInterval(-90_000))
        let verdict = BackupFreshness.evaluate(summary, remoteConfigured: true, maxAge: .seconds(86400), now: now)
        #expect(verdict.level == .critical)
        #expect(verdict.message == "the last backup pushed to the remote is 1d1h old, more than the allowed 1d (last error: push failed)")
    }

    @Test("a fresh push but a latest run that only committed locally is WARN")
    func localOnly() {
        let summary = BackupRecordSummary(lastRun: run(60, inSync: false, unpushed: 1), lastSuccess: now.addingTimeInterval(-60), lastInSync: now.addingTimeInterval(-3600))
        #expect(BackupFreshness.evaluate(summary, remoteConfigured: true, maxAge: .seconds(86400), now: now).level == .warning)
    }

    @Test("a recent push is OK; without a remote, a recent local backup is OK")
    func fresh() {
        let summary = BackupRecordSummary(lastRun: run(60), lastSuccess: now.addingTimeInterval(-60), lastInSync: now.addingTimeInterval(-60))
        #expect(BackupFreshness.evaluate(summary, remoteConfigured: true, maxAge: .seconds(86400), now: now).level == .ok)
        let local = BackupRecordSummary(lastRun: run(60, inSync: false), lastSuccess: now.addingTimeInterval(-60), lastInSync: nil)
        #expect(BackupFreshness.evaluate(local, remoteConfigured: false, maxAge: .seconds(86400), now: now).level == .ok)
    }
}
