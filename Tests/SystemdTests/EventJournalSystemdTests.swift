import Foundation
import OpsAPI
import Testing
import TestSupport

// Issue 14 item 1 under the shipped unit: each event is one native journal entry with OPS_EVENT,
// and `opsctl events` reads the same events from the history. In SystemdServiceTests (an
// extension), so it runs serialized with the other sandbox tests.
extension SystemdServiceTests {
    @Test("events reach journald as entries with OPS_EVENT and the subject's fields, and opsctl events lists them")
    func eventsInTheJournal() async throws {
        let cursor = try await Sandbox.cursor()
        #expect(try await Sandbox.exec("systemctl", "start", "opsd.service").status == 0)
        try await Sandbox.install(config: Self.goodConfig + "\n  - {name: mem, memory: {}, warn: lots}\n")
        #expect(try await Sandbox.exec("systemctl", "reload", "opsd.service").status == 0)
        try await Sandbox.waitForJournal("rejected: the file has 1 problem", after: cursor)

        let byField = try await Sandbox.exec("journalctl", "--no-pager", "-o", "json", "OPS_EVENT=reload_rejected")
        let entries = byField.stdout.split(separator: "\n").compactMap { line in
            (try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])?.compactMapValues { $0 as? String }
        }
        let rejected = try #require(entries.last, "no OPS_EVENT=reload_rejected entry: \(byField.stderr)")
        #expect(rejected["_SYSTEMD_UNIT"] == "opsd.service")
        #expect(rejected["_TRANSPORT"] == "journal")
        #expect(rejected["PRIORITY"] == "4")
        #expect(rejected["OPS_SEVERITY"] == "warning")
        #expect(rejected["OPS_SUBJECT"] == "opsd")
        #expect(rejected["OPS_SUBJECT_KIND"] == "daemon")
        #expect(rejected["OPS_PROBLEMS"] == "1")
        #expect(rejected["OPS_TRIGGER"] == "SIGHUP")
        let started = try await Sandbox.journal(after: cursor, match: "OPS_EVENT=opsd_started")
        #expect(started.count == 1)

        let listed = try await Sandbox.exec("opsctl", "--config", "/etc/ops/ops.yaml", "events", "--json")
        #expect(listed.status == 0, "\(listed.stderr)")
        let kinds = try listed.stdout.split(separator: "\n").map { try WireJSON.decoder.decode(EventRecord.self, from: Data($0.utf8)).kind }
        // Earlier tests' events are in the history too: this start's are after its opsd_started.
        let start = try #require(kinds.lastIndex(of: "opsd_started"))
        #expect(kinds[start...].contains("reload_rejected"))
    }
}
