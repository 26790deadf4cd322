import Foundation
import Testing
import TestSupport

// Issue 17 item 7: `opsctl doctor` against the unit as installed under a real systemd.
extension SystemdServiceTests {
    /// One finding of `opsctl doctor --json`.
    struct DoctorFinding: Decodable {
        let name: String
        let state: String
        let message: String
        let fix: String?
    }

    struct DoctorReport: Decodable {
        let checks: [DoctorFinding]
    }

    @Test("opsctl doctor under the shipped unit: verify, exposure and Delegate=yes pass, with opsd, its socket, state and workers; journald's rate limit read from its drop-ins")
    func doctorUnderTheUnit() async throws {
        #expect(try await Sandbox.exec("systemctl", "start", "opsd.service").status == 0)
        defer { Task { _ = try? await Sandbox.exec("systemctl", "stop", "opsd.service") } }
        let result = try await Sandbox.exec("opsctl", "--config", "/etc/ops/ops.yaml", "doctor", "--json")
        let report = try JSONDecoder().decode(DoctorReport.self, from: Data(result.stdout.utf8))
        func states(_ name: String) -> [String] { report.checks.filter { $0.name == name }.map(\.state) }
        for name in ["unit", "unit-security", "cgroup-delegation", "config", "socket", "state", "daemon", "workers"] {
            #expect(states(name) == ["ok"], "\(name): \(report.checks.filter { $0.name == name })")
        }
        #expect(report.checks.first { $0.name == "unit" }?.message == "/etc/systemd/system/opsd.service passes systemd-analyze verify")
        // The container's clock may or may not be synchronised; either way the check answers.
        #expect(states("clock").count == 1 && states("clock") != ["fail"])
        #expect(!report.checks.contains { $0.state == "fail" }, "\(report.checks)")
        #expect(result.status == 0 || result.status == 1, "\(result.stderr)")
        // The sandbox turns journald's rate limit off (its 50-systemd-sandbox.conf); a later
        // drop-in that turns it on is read as journald would (journald itself is not restarted).
        #expect(states("journald") == ["ok"])
        let dropIn = "/etc/systemd/journald.conf.d/90-opsctl-doctor-test.conf"
        try await Sandbox.copy(text: "[Journal]\nRateLimitIntervalSec=30s\nRateLimitBurst=1000\n", to: dropIn)
        let limited = try await Sandbox.exec("opsctl", "--config", "/etc/ops/ops.yaml", "doctor", "--json")
        _ = try await Sandbox.exec("rm", "-f", dropIn)
        let journald = try #require(try JSONDecoder().decode(DoctorReport.self, from: Data(limited.stdout.utf8)).checks.first { $0.name == "journald" })
        #expect(journald.state == "warn")
        #expect(journald.message.hasPrefix("journald keeps at most 1000 lines per 30s from opsd.service (\(dropIn)), and its 1 worker(s) share that budget"), "\(journald.message)")
        #expect(journald.fix?.hasPrefix("write RateLimitIntervalSec=0 under [Journal] in /etc/systemd/journald.conf.d/ops.conf") == true)
    }
}
