import Foundation
import Testing
import TestSupport

// Issue 16 item 6: a child started with `user:` gets that user's supplementary groups, as
// systemd's User= and initgroups(3) give them. In the sandbox, whose user database a test may
// change; in SystemdServiceTests (an extension) so it runs serialized with the other sandbox tests.
extension SystemdServiceTests {
    @Test("a job run as another user gets that user's supplementary groups, not none and not opsd's")
    func supplementaryGroups() async throws {
        let made = try await Sandbox.shell("""
            mkdir -p /tmp/groups-test && { id opsmember >/dev/null 2>&1 || useradd --system --user-group --groups adm,users --no-create-home --shell /usr/sbin/nologin opsmember; }
            """)
        #expect(made.status == 0, "\(made.stderr)")
        try await Sandbox.copy(text: """
            daemon:
              socket: /tmp/groups-test/opsd.sock
              state_dir: /tmp/groups-test/state
            jobs:
              - {name: groups, command: [/usr/bin/id, -G], user: opsmember, every: 1h}
            """, to: "/tmp/groups-test/ops.yaml")
        // opsd is stopped (the suite's init): the run happens in opsctl itself, as root.
        let ran = try await Sandbox.exec("opsctl", "jobs", "run", "groups", "--config", "/tmp/groups-test/ops.yaml")
        #expect(ran.status == 0, "\(ran.stderr)")
        let expected = try await Sandbox.exec("id", "-G", "opsmember")
        let groups = { (text: String) in Set(text.split(whereSeparator: \.isWhitespace)) }
        #expect(groups(expected.stdout).count == 3, "\(expected.stdout)")
        // The job's output line is the groups it ran with.
        let printed = ran.stdout.split(separator: "\n").first { line in groups(String(line)) == groups(expected.stdout) }
        #expect(printed != nil, "job printed: \(ran.stdout)")
    }
}
