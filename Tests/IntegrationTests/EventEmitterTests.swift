import Foundation
import Testing
import TestSupport

/// opsd end to end: the scheduler's events reach opsd's one event stream, whose journal consumer
/// writes one log line per event (`event` names its kind); the tests wait for those lines.
@Suite("Job events in opsd")
struct EventEmitterTests {
    @Test("a job that fails in opsd is job_failed; after an opsd restart, its first success is job_recovered")
    func jobFailsThenRecoversAcrossRestarts() async throws {
        let scratch = try Scratch()
        let failing = try scratch.config(extra: """
            jobs:
              - {name: export, schedule: "@reboot", command: [/bin/sh, -c, "exit 7"]}
            """)
        let first = try await Daemon(config: failing, scratch: scratch)
        let failed = try await first.logStream.first { $0.fields["event"] == "job_failed" }
        #expect(failed.fields["job"] == "export")
        #expect(failed.fields["exit_code"] == "7")
        #expect(failed.fields["attempts"] == "1")
        #expect(failed.message == "job export failed after 1 attempt: /bin/sh ended with exit 7")
        first.signal(SIGTERM)
        #expect(await first.exitStatus() == 0)

        // The fix: the same job now succeeds. Only the run store remembers the failure.
        _ = try scratch.config(extra: """
            jobs:
              - {name: export, schedule: "@reboot", command: [/bin/true]}
            """)
        let second = try await Daemon(config: failing, scratch: scratch)
        let recovered = try await second.logStream.first { $0.fields["event"] == "job_recovered" }
        #expect(recovered.fields["job"] == "export")
        #expect(recovered.fields["severity"] == "ok")
        second.signal(SIGTERM)
        #expect(await second.exitStatus() == 0)
        #expect(!second.log.contains("\"job_failed\""))
    }
}
