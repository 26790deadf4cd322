import Foundation
import OpsAPI
import Testing
import TestSupport

/// Issue 17's limit on `opsctl status`: its plain forms skip ArgumentParser and the async main
/// (`StatusFastPath`), and must say exactly what the ArgumentParser path says.
@Suite("opsctl status fast path")
struct StatusFastPathTests {
    /// A repeated option is left to ArgumentParser, so this form takes the old path.
    static func slow(_ config: String) -> [String] { ["status", "--config", config, "--config", config] }

    @Test("every plain form answers like the ArgumentParser path, and starts no thread")
    func plainForms() async throws {
        let scratch = try Scratch()
        let config = try scratch.config(extra: """
            workers:
              - {name: web, command: [sleep, "1000"]}
            """)
        let daemon = try await Daemon(config: config, scratch: scratch)
        defer { daemon.signal(SIGTERM) }
        _ = try await daemon.logStream.first { $0.message == "worker started" && $0.fields["worker"] == "web" }
        let reference = try await run("opsctl", Self.slow(config) + ["--json"])
        #expect(reference.status == 0, "\(reference.stderr)")
        let expected = try WireJSON.decoder.decode(StatusReport.self, from: Data(reference.stdout.utf8))
        for form in [
            ["status", "--json", "--config", config], ["--config", config, "status", "--json"], ["-c", config, "status", "--json"],
            ["status", "--json", "--config=\(config)"], ["--socket", scratch.socket, "status", "--json"], ["status", "--socket=\(scratch.socket)", "--json"],
        ] {
            let result = try await run("opsctl", form)
            #expect(result.status == 0, "\(form): \(result.stderr)")
            let report = try WireJSON.decoder.decode(StatusReport.self, from: Data(result.stdout.utf8))
            #expect(report.pid == expected.pid && report.workers.map(\.name) == ["web"] && report.configPath == expected.configPath, "\(form)")
        }
        let text = try await run("opsctl", ["status", "--config", config])
        #expect(text.status == 0)
        #expect(text.stdout.hasPrefix("opsd \(expected.version) is running (pid \(expected.pid),"), "\(text.stdout)")
        #expect(text.stdout.contains("\n  web "), "\(text.stdout)")

        // The point of the fast path: no ArgumentParser task, so no thread at all. strace counts them.
        let fast = try await threadsStarted(["status", "--config", config], scratch: scratch)
        let slowPath = try await threadsStarted(Self.slow(config), scratch: scratch)
        #expect(fast == 0)
        #expect(slowPath > 0, "the ArgumentParser path starts threads; if not, this test cannot tell the paths apart")
    }

    @Test("a worker that should run, and a stopped opsd: the same exit status and message on both paths")
    func failures() async throws {
        let scratch = try Scratch()
        let config = try scratch.config(extra: """
            workers:
              - {name: loop, command: [/bin/sh, -c, "exit 1"], restart: {policy: always, backoff: 50ms..100ms, burst: 2 in 60s}}
            """)
        let daemon = try await Daemon(config: config, scratch: scratch)
        _ = try await daemon.logStream.first { $0.message.hasPrefix("worker is fatal") && $0.fields["worker"] == "loop" }
        let fast = try await run("opsctl", ["status", "--config", config])
        let slow = try await run("opsctl", Self.slow(config))
        #expect(fast.status == 3 && slow.status == 3)
        #expect(fast.stderr == "opsctl: loop is fatal; it should be running\n", "\(fast.stderr)")
        #expect(fast.stderr == slow.stderr)
        daemon.signal(SIGTERM)
        _ = await daemon.exitStatus()

        let fastDown = try await run("opsctl", ["status", "--json", "--config", config])
        let slowDown = try await run("opsctl", Self.slow(config) + ["--json"])
        #expect(fastDown.status == 3 && slowDown.status == 3)
        #expect(fastDown.stderr.hasPrefix("opsctl: ") && fastDown.stderr == slowDown.stderr, "\(fastDown.stderr) / \(slowDown.stderr)")
        #expect(fastDown.stdout.isEmpty)
    }

    @Test("what is not a plain status goes to ArgumentParser: help, a stray word, an option without its value")
    func others() async throws {
        let help = try await run("opsctl", ["status", "--help"])
        #expect(help.status == 0 && help.stdout.contains("USAGE: opsctl status"), "\(help.stdout)")
        let stray = try await run("opsctl", ["status", "extra"])
        #expect(stray.status == 64 && stray.stderr.contains("Unexpected argument 'extra'"), "\(stray.stderr)")
        let missing = try await run("opsctl", ["status", "--socket"])
        #expect(missing.status == 64 && missing.stderr.contains("Missing value for '--socket <path>'"), "\(missing.stderr)")
        let early = try await run("opsctl", ["--json", "status"])
        #expect(early.status == 64, "--json belongs to status: \(early.stderr)")
    }

    /// The threads (clone calls) `opsctl ARGUMENTS` starts, counted by strace.
    func threadsStarted(_ arguments: [String], scratch: Scratch) async throws -> Int {
        let trace = "\(scratch.path)/opsctl-\(UUID().uuidString).strace"
        let result = try await run("/usr/bin/strace", ["-f", "-qq", "-e", "trace=clone,clone3", "-o", trace, "\(binDirectory)/opsctl"] + arguments)
        #expect(result.status == 0, "\(result.stderr)")
        let lines = try String(contentsOfFile: trace, encoding: .utf8).split(separator: "\n")
        return lines.filter { $0.contains("clone") && !$0.contains("resumed") }.count
    }
}
