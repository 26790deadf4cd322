import Foundation
import OpsAPI
import Testing
import TestSupport

/// Issue 16 items 1 and 2 with the built opsd and opsctl, outside systemd (under it:
/// SystemdTests' WorkerCgroupSystemdTests).
@Suite("worker limits: opsd and opsctl outside delegation")
struct WorkerLimitsTests {
    private func status(_ scratch: Scratch) async throws -> StatusReport {
        let json = try await run("opsctl", ["status", "--json", "--socket", scratch.socket])
        return try WireJSON.decoder.decode(StatusReport.self, from: Data(json.stdout.utf8))
    }

    @Test("without a delegated cgroup opsd says once which workers' cgroup limits are not applied and why; their rlimits apply")
    func notAppliedOnce() async throws {
        let scratch = try Scratch()
        defer { try? FileManager.default.removeItem(atPath: scratch.path) }
        let config = try scratch.config(extra: """
            workers:
              - {name: app, command: [/bin/sleep, "1000"], limits: {memory: 1G, cpu: 50%, nofile: "512:1024", core: 0}}
              - {name: other, command: [/bin/sleep, "1000"], limits: {tasks: 64}}
              - {name: plain, command: [/bin/sleep, "1000"]}
            """)
        let daemon = try await Daemon(config: config, scratch: scratch)
        let line = try await daemon.logStream.first { $0.message.hasPrefix("cgroup limits are not applied: ") }
        #expect(line.level == "warning")
        #expect(line.message.hasSuffix(". Workers with limits: app (memory, cpu); other (tasks). Process groups remain the fallback, and rlimits apply"), "\(line.message)")
        #expect(line.fields["workers"] == "app, other")

        let app = try #require(try await status(scratch).workers.first { $0.name == "app" }?.pid)
        let limits = try String(contentsOfFile: "/proc/\(app)/limits", encoding: .utf8).split(separator: "\n")
        let row = { (name: String) in limits.first { $0.hasPrefix(name) }.map { $0.dropFirst(26).split(separator: " ").prefix(2).map(String.init) } }
        #expect(row("Max open files") == ["512", "1024"])
        #expect(row("Max core file size") == ["0", "0"])

        // A reload says nothing new.
        daemon.signal(SIGHUP)
        _ = try await daemon.logStream.first { $0.message == "configuration reloaded" || $0.message.hasPrefix("configuration reload") }
        daemon.signal(SIGTERM)
        #expect(await daemon.exitStatus() == 0)
        #expect(daemon.log.components(separatedBy: "cgroup limits are not applied").count == 2, "said once")
    }

    @Test("a worker whose nofile opsd cannot set does not run with another limit: status says which key and why")
    func impossibleNofile() async throws {
        let scratch = try Scratch()
        defer { try? FileManager.default.removeItem(atPath: scratch.path) }
        var hard = rlimit()
        getrlimit(__rlimit_resource_t(UInt32(RLIMIT_NOFILE.rawValue)), &hard)
        let procStatus = try String(contentsOfFile: "/proc/self/status", encoding: .utf8)
        let capabilities = procStatus.split(separator: "\n").first { $0.hasPrefix("CapEff:") }.flatMap { UInt64($0.dropFirst(7).trimmingCharacters(in: .whitespaces), radix: 16) } ?? 0
        let privileged = capabilities & (1 << 24) != 0
        let nrOpen = try String(contentsOfFile: "/proc/sys/fs/nr_open", encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        // opsd inherits this process's hard limit; without CAP_SYS_RESOURCE it cannot go above it.
        let above = (privileged ? UInt64(nrOpen) ?? 1_048_576 : UInt64(hard.rlim_max)) + 1
        let config = try scratch.config(extra: """
            workers:
              - {name: app, command: [/bin/sleep, "1000"], restart: {policy: never}, limits: {nofile: \(above)}}
            """)
        let daemon = try await Daemon(config: config, scratch: scratch)
        let start = try await run("opsctl", ["workers", "start", "app", "--socket", scratch.socket])
        #expect(start.status == 1)
        let expected = privileged
            ? "cannot start /bin/sleep: limits: nofile \(above) is above the most the kernel allows (fs.nr_open = \(nrOpen)); lower it"
            : "cannot start /bin/sleep: limits: nofile \(above) is above opsd's own hard limit (\(above - 1)), which opsd may not raise; lower it, or raise opsd's (LimitNOFILE= in its unit)"
        #expect(try await status(scratch).workers.first?.message == expected)
        #expect(start.stdout.contains(expected) || start.stderr.contains(expected), "\(start.stdout)\(start.stderr)")
        daemon.signal(SIGTERM)
        #expect(await daemon.exitStatus() == 0)
    }

    @Test("opsctl config check warns about cgroup limits on a machine where no opsd gets a delegated cgroup", .enabled(if: access("/run/systemd/system", F_OK) != 0, "this machine runs systemd, where opsd.service gets a delegated cgroup"))
    func configCheckWarns() async throws {
        let scratch = try Scratch()
        defer { try? FileManager.default.removeItem(atPath: scratch.path) }
        let config = try scratch.config(extra: """
            workers:
              - {name: app, command: [/bin/true], limits: {memory: 1G, cpu: 50%, nofile: 1024}}
              - {name: plain, command: [/bin/true], limits: {nofile: 1024}}
            """)
        let check = try await run("opsctl", ["config", "check", config])
        #expect(check.status == 0)
        #expect(check.stderr.contains("warning: workers[0].limits: memory, cpu apply only when opsd runs under systemd with Delegate=yes (deploy/systemd/opsd.service), and "), "\(check.stderr)")
        #expect(check.stderr.contains("; opsd would run app without them (its rlimits apply everywhere)"), "\(check.stderr)")
        #expect(!check.stderr.contains("workers[1]"))
        let json = try await run("opsctl", ["config", "check", "--json", config])
        let report = try WireJSON.decoder.decode(ConfigCheckReport.self, from: Data(json.stdout.utf8))
        #expect(report.warnings.count == 1)
    }
}
