import BackupRecords
import Checks
import Foundation
import OpsConfig
import Testing

/// The backup check reads the history real backup runs write into the state database.
@Suite("backup freshness check")
struct BackupCheckTests {
    private func check(_ scratch: Scratch, remote: Bool, maxAge: Duration = .seconds(3600)) async -> CheckResult {
        await runOnce(.backup(BackupCheckSpec(maxAge: maxAge, stateDirectory: scratch.path, remoteConfigured: remote)))
    }

    @Test("a fresh install is OK until its first backup; a failed first one is CRIT; a pushed one is OK; one that stayed local is WARN; an old one is CRIT")
    func states() async throws {
        let scratch = try Scratch()
        defer { scratch.remove() }
        // Nothing tried yet, and max_age has not passed since this state database began recording.
        let install = await check(scratch, remote: true)
        #expect(install.state == .ok && install.message.hasPrefix("no backup yet on this install"), "\(install.message)")

        let history = try BackupHistory(stateDirectory: scratch.path)
        let now = Date()
        try await history.recordFailure(started: now.addingTimeInterval(-90), finished: now.addingTimeInterval(-80), remoteConfigured: true, error: "remote unreachable")
        let failed = await check(scratch, remote: true)
        #expect(failed.state == .crit && failed.message == "no backup has ever been pushed to the remote (last error: remote unreachable)", "\(failed.message)")
        try await history.recordSuccess(
            started: now.addingTimeInterval(-60), finished: now.addingTimeInterval(-50), commit: "abc", remoteConfigured: true,
            remoteInSync: true, unpushedCommits: 0, pushError: nil)
        let fresh = await check(scratch, remote: true)
        #expect(fresh.state == .ok && fresh.message.hasPrefix("last backup pushed to the remote"))

        try await history.recordSuccess(
            started: now.addingTimeInterval(-20), finished: now.addingTimeInterval(-10), commit: "def", remoteConfigured: true,
            remoteInSync: false, unpushedCommits: 1, pushError: "remote unreachable")
        let local = await check(scratch, remote: true)
        #expect(local.state == .warn)
        #expect(local.message.contains("committed locally only") && local.message.contains("remote unreachable"))

        let stale = await check(scratch, remote: true, maxAge: .seconds(30))
        #expect(stale.state == .crit)
        // Without a remote, a local commit is as safe as it gets.
        #expect(await check(scratch, remote: false).state == .ok)
    }

    @Test("the config fills in the state directory and the remote, and needs a backup section")
    func configuration() throws {
        let loaded = ConfigLoader.parse(yaml: """
            daemon: {state_dir: /var/lib/ops}
            checks: [{name: fresh, backup: {max_age: 26h}, every: 10m}]
            backup: {repository: /var/lib/ops/backup.git, remote: {url: /srv/remote.git}}
            """, baseDirectory: "/etc/ops")
        #expect(loaded.diagnostics.isEmpty)
        #expect(loaded.configuration.checks.first?.kind == .backup(BackupCheckSpec(maxAge: .seconds(26 * 3600), stateDirectory: "/var/lib/ops", remoteConfigured: true)))
        let missing = ConfigLoader.parse(yaml: "checks: [{name: fresh, backup: {}}]", baseDirectory: "/etc/ops")
        #expect(missing.diagnostics.map(\.description) == [
            "checks[0].backup: checks the backups of the backup: section, but there is none; add a backup: section (line 1)",
        ])
    }
}
