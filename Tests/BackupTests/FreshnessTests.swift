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

    @Test("a fresh install is OK until max_age after it began recording backups, unless a backup was tried and failed")
    func freshInstall() {
        let day = Duration.seconds(86400)
        let young = BackupRecordSummary(trackedSince: now.addingTimeInterval(-3600))
        let verdict = BackupFreshness.evaluate(young, remoteConfigured: true, maxAge: day, now: now)
        #expect(verdict.level == .ok)
        #expect(verdict.message == "no backup yet on this install (recording since 1h ago); the first must be pushed to the remote within 23h")
        // Past max_age with still no backup: the install's grace is over.
        let old = BackupRecordSummary(trackedSince: now.addingTimeInterval(-86_401))
        #expect(BackupFreshness.evaluate(old, remoteConfigured: true, maxAge: day, now: now).level == .critical)
        // The first backup ran and failed: no grace, whatever the install's age.
        let failed = BackupRecordSummary(lastRun: run(60, succeeded: false, inSync: false, error: "disk full"), trackedSince: now.addingTimeInterval(-3600))
        let verdict2 = BackupFreshness.evaluate(failed, remoteConfigured: true, maxAge: day, now: now)
        #expect(verdict2.level == .critical && verdict2.message == "no backup has ever been pushed to the remote (last error: disk full)")
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
