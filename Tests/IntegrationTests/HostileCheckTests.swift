import Foundation
import Testing
import TestSupport

/// Checks written to hurt opsd (issue 12, items 9 and 10), against a real opsd.
@Suite("hostile checks and configs opsd cannot run")
struct HostileCheckTests {
    /// Descriptors and threads of a process, from /proc.
    private static func usage(of pid: Int32) -> (fds: Int, threads: Int) {
        let fds = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/fd").count) ?? -1
        let threads = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/task").count) ?? -1
        return (fds, threads)
    }

    private static func lines(_ path: String) -> [Int32] {
        ((try? String(contentsOfFile: path, encoding: .utf8)) ?? "").split(separator: "\n").compactMap { Int32($0) }
    }

    @Test("a catastrophic body pattern and a plugin that leaves a setsid child: opsd keeps answering and does not grow", .timeLimit(.minutes(3)))
    func hostileChecks() async throws {
        let scratch = try Scratch()
        defer { try? FileManager.default.removeItem(atPath: scratch.path) }
        // A body that makes a backtracking engine run for ever against (a+)+b.
        let site = "\(scratch.path)/site"
        try FileManager.default.createDirectory(atPath: site, withIntermediateDirectories: true)
        try (String(repeating: "a", count: 1 << 16) + "!").write(toFile: "\(site)/body.txt", atomically: true, encoding: .utf8)
        let port = try freePort()
        let server = Process()
        server.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
        server.arguments = ["-m", "http.server", "\(port)", "--bind", "127.0.0.1", "--directory", site]
        server.standardOutput = FileHandle.nullDevice
        server.standardError = FileHandle.nullDevice
        try server.run()
        defer { kill(server.processIdentifier, SIGKILL) }
        _ = try await poll("the HTTP server answers") { () -> Bool? in
            try await run("/usr/bin/curl", ["-sf", "-o", "/dev/null", "http://127.0.0.1:\(port)/body.txt"]).status == 0 ? true : nil
        }

        let sleepers = "\(scratch.path)/sleepers"
        let plugin = try scratch.write("plugin.sh", """
            #!/bin/sh
            ready=\(scratch.path)/ready.$$
            mkfifo "$ready"
            setsid sh -c "echo ready > $ready; exec sleep 300" &
            echo $! >> \(sleepers)
            read line < "$ready"
            rm -f "$ready"
            echo 'LEAK OK - answered'

            """)
        chmod(plugin, 0o755)
        defer { for pid in Self.lines(sleepers) { kill(pid, SIGKILL) } }

        let config = try scratch.config(extra: """
            checks:
              - {name: evil, http: "http://127.0.0.1:\(port)/body.txt", expect: {body_matches: "(a+)+b"}, every: 100ms}
              - {name: leak, command: [\(plugin)], every: 100ms}
            """)
        let daemon = try await Daemon(config: config, scratch: scratch)

        // The pattern check is answered, with its verdict.
        let evil = try await poll("the pattern check has a result") { () -> String? in
            let result = try await run("opsctl", ["--config", config, "health", "--nagios", "evil"])
            return result.stdout.contains("does not match") ? result.stdout : nil
        }
        #expect(evil.contains("the body does not match /(a+)+b/"), "\(evil)")

        // While both checks keep running, the control socket answers every time.
        _ = try await poll("the plugin has run 5 times") { Self.lines(sleepers).count >= 5 ? true : nil }
        let early = Self.usage(of: daemon.pid)
        for _ in 0..<10 {
            let status = try await run("opsctl", ["--config", config, "status"])
            #expect(status.status == 0, "\(status.stderr)")
        }
        _ = try await poll("the plugin has run 30 times") { Self.lines(sleepers).count >= 30 ? true : nil }
        let late = Self.usage(of: daemon.pid)
        // 25 more runs that each leaked a pipe and a thread would show as 25 more of each.
        #expect(late.fds - early.fds < 8, "descriptors \(early.fds) -> \(late.fds)")
        #expect(late.threads - early.threads < 8, "threads \(early.threads) -> \(late.threads)")
        let leak = try await run("opsctl", ["--config", config, "health", "--nagios", "leak"])
        #expect(leak.stdout.hasPrefix("OPSD OK"), "\(leak.stdout)")

        daemon.signal(SIGTERM)
        #expect(await daemon.exitStatus() == 0)
    }

    @Test("opsd exits 78 (configuration) for what config check refuses, instead of failing to bind with 1", arguments: ["socket", "listen"])
    func refusedAtStart(key: String) async throws {
        let scratch = try Scratch()
        defer { try? FileManager.default.removeItem(atPath: scratch.path) }
        // 104 bytes: one more than opsd can bind.
        let longSocket = scratch.path + "/" + String(repeating: "s", count: 103 - scratch.path.utf8.count)
        let config = key == "socket"
            ? try scratch.write("ops.yaml", "daemon:\n  socket: \(longSocket)\n  state_dir: \(scratch.path)/state\n")
            : try scratch.config(extra: "  listen: \"1.2.3.4.5:9110\"\n")
        let daemon = try await Daemon(config: config, scratch: scratch, environment: ["OPS_LOG_FORMAT": "human"], waitForReady: false)
        #expect(await daemon.exitStatus() == 78)
        #expect(daemon.log.contains(key == "socket"
            ? "daemon.socket: is 104 bytes long, but opsd can bind unix socket paths of at most 103 bytes"
            : #"daemon.listen: "1.2.3.4.5" is not an IP address opsd can listen on"#), "\(daemon.log)")
    }
}
