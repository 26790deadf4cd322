import OpsConfig
import Testing

/// `backup.keep:` is read into `BackupKeep`; a policy that keeps nothing is refused plainly.
@Suite("config: backup.keep")
struct BackupKeepConfigTests {
    @Test("keep: counts are read, unset rules are 0")
    func counts() {
        let result = ConfigLoader.parse(yaml: """
            backup:
              repository: /var/lib/ops/backup.git
              keep: {last: 3, daily: 7, yearly: 2}
            """, baseDirectory: "/etc/ops")
        #expect(result.diagnostics.isEmpty, "\(result.diagnostics)")
        #expect(result.configuration.backup?.keep == BackupKeep(last: 3, daily: 7, yearly: 2))
    }

    @Test("keep: with every count 0, a negative count or an unknown rule is an error naming what to write")
    func refused() {
        for (keep, words) in [("{daily: 0}", "keeps nothing"), ("{daily: -1}", "whole number"), ("{days: 3}", "days")] {
            let result = ConfigLoader.parse(yaml: "backup:\n  repository: /b.git\n  keep: \(keep)\n", baseDirectory: "/etc/ops")
            let text = result.diagnostics.map(\.description).joined(separator: "\n")
            #expect(text.contains("backup.keep") && text.contains(words), "\(keep): \(text)")
        }
    }
}
