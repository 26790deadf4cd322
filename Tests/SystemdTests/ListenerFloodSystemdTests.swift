import Foundation
import Testing
import TestSupport

// Issue 12 item 7 under the shipped unit: a connection flood must not stop the watchdog's pings.
// In SystemdServiceTests (an extension), so it runs serialized with the other sandbox tests.
extension SystemdServiceTests {
    @Test("a flood on daemon.listen and the control socket under WatchdogSec=3s: no watchdog restart, opsctl answers, every held connection is closed")
    func floodKeepsTheWatchdogFed() async throws {
        let port = try freePort()
        try await Sandbox.install(config: Self.goodConfig.replacingOccurrences(
            of: "  state_dir: /var/lib/ops\n", with: "  state_dir: /var/lib/ops\n  listen: 127.0.0.1:\(port)\n"))
        #expect(try await Sandbox.exec("systemctl", "start", "opsd.service").status == 0)
        let pid = try await Sandbox.property("MainPID")
        let cursor = try await Sandbox.cursor()

        // Inside: 500 half-sent requests on the control socket, held until opsd closes them
        // (bounded by `timeout`); prints how many it closed.
        let script = """
            import socket, select
            held = []
            for _ in range(500):
                s = socket.socket(socket.AF_UNIX); s.connect("/run/ops/opsd.sock"); s.sendall(b"GET /v1/status HTTP/1.1\\r\\n"); held.append(s)
            closed = 0
            while held:
                ready, _, _ = select.select(held, [], [], 60)
                if not ready: break
                for s in ready:
                    if not s.recv(4096): held.remove(s); s.close(); closed += 1
            print(closed)
            """
        async let controlFlood = Sandbox.exec("timeout", "90", "python3", "-c", script)

        // Outside (the sandbox shares the host's network): 1100 idle TCP connections, more than
        // the 1024 descriptors a unit gets by default.
        let held = HeldConnections()
        for _ in 0..<1100 { try held.connectLoopback(port) }
        let status = try await Sandbox.exec("opsctl", "--config", "/etc/ops/ops.yaml", "status")
        #expect(status.status == 0, "\(status.stderr)")
        #expect(await held.awaitEndOfFile(limit: .seconds(60)) == 0)
        let control = try await controlFlood
        #expect(control.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == "500", "\(control.stdout)\(control.stderr)")

        // The flood lasted several watchdog intervals (3 s); systemd never lost patience.
        #expect(try await Sandbox.property("NRestarts") == "0")
        #expect(try await Sandbox.property("MainPID") == pid)
        let unit = try await Sandbox.journal(after: cursor, match: "UNIT=opsd.service").compactMap { $0["MESSAGE"] }
        #expect(!unit.contains { $0.contains("Watchdog timeout") }, "\(unit)")
        let limits = try await Sandbox.exec("cat", "/proc/\(pid)/limits")
        #expect(limits.stdout.split(separator: "\n").contains { $0.hasPrefix("Max open files") && $0.contains("8192") && !$0.contains("1024") }, "\(limits.stdout)")
    }
}
