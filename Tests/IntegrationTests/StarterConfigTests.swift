import Foundation
import OpsConfig
import Testing
import TestSupport

/// `make install` (and the Debian package) put deploy/ops.yaml in /etc/ops/ops.yaml: a first start
/// on a host with no application must be green, or the operator's first sight is a wall of CRIT.
@Suite("the starter config deploy/ops.yaml starts green")
struct StarterConfigTests {
    static let starter = "\(repositoryRoot)/deploy/ops.yaml"

    @Test("opsctl config check passes it with no problem and no warning")
    func checksClean() async throws {
        let result = try await run("opsctl", ["config", "check", "--json", Self.starter])
        #expect(result.status == 0, "\(result.stdout)\(result.stderr)")
        let report = try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
        #expect(report["valid"] as? Bool == true)
        #expect((report["problems"] as? [Any])?.isEmpty == true, "\(result.stdout)")
        #expect((report["warnings"] as? [Any])?.isEmpty == true, "\(result.stdout)")
    }

    @Test("a real opsd on it reaches READY, every check's first result is OK, and health and status exit 0")
    func startsGreen() async throws {
        let scratch = try Scratch()
        // Only the paths that need root move into the scratch directory; everything else is the
        // file as shipped (the state database check follows state_dir, since it is opsd's own).
        let text = try String(contentsOfFile: Self.starter, encoding: .utf8)
        let state = "\(scratch.path)/state"
        let rewritten = text
            .replacingOccurrences(of: "/run/ops/opsd.sock", with: scratch.socket)
            .replacingOccurrences(of: "/var/lib/ops", with: state)
        #expect(rewritten.contains("socket: \(scratch.socket)") && rewritten.contains("state_dir: \(state)"), "the starter's socket or state_dir moved; update this test's rewrite")
        let config = try scratch.write("ops.yaml", rewritten)
        let checks = try ConfigLoader.load(path: config).checks.map(\.name)
        #expect(!checks.isEmpty)

        let daemon = try await Daemon(config: config, scratch: scratch)
        // Each check's first result moves it out of pending; that line is awaited, never slept for.
        for name in checks {
            let first = try await daemon.logStream.first { $0.message == "check state changed" && $0.fields["check"] == name }
            #expect(first.fields["to"] == "ok", "\(name): \(first.fields["message"] ?? "")")
        }

        let health = try await run("opsctl", ["--config", config, "health", "--json"])
        #expect(health.status == 0, "\(health.stdout)\(health.stderr)")
        let document = try #require(try JSONSerialization.jsonObject(with: Data(health.stdout.utf8)) as? [String: Any])
        #expect(document["status"] as? String == "pass", "\(health.stdout)")
        let table = try await run("opsctl", ["--config", config, "health"])
        #expect(table.status == 0 && table.stdout.hasSuffix("Overall: OK\n"), "\(table.stdout)")

        let status = try await run("opsctl", ["--config", config, "status"])
        #expect(status.status == 0, "\(status.stdout)\(status.stderr)")

        daemon.signal(SIGTERM)
        #expect(await daemon.exitStatus() == 0)
    }
}

/// `make demo` is a newcomer's first sight of opsd: every check of the demo must be OK from the
/// start (the flaky worker's crashes are the show, not a red check).
@Suite("the demo config starts green")
struct DemoConfigTests {
    @Test("a real opsd on a copy of examples/demo reaches READY and every check's first counted result is OK")
    func startsGreen() async throws {
        let scratch = try Scratch()
        let demo = "\(scratch.path)/demo"
        try FileManager.default.createDirectory(atPath: demo, withIntermediateDirectories: true)
        for file in ["ops.yaml", "writer.py"] {
            try FileManager.default.copyItem(atPath: "\(repositoryRoot)/examples/demo/\(file)", toPath: "\(demo)/\(file)")
        }
        // What scripts/demo.sh prepares before it starts opsd.
        try FileManager.default.createDirectory(atPath: "\(demo)/run/spool", withIntermediateDirectories: true)
        #expect(try await run("/usr/bin/git", ["init", "--quiet", "--bare", "\(demo)/run/remote.git"]).status == 0)
        #expect(try await run("/usr/bin/env", ["python3", "\(demo)/writer.py", "--init", "\(demo)/run/demo.db"]).status == 0)
        // The listener's fixed port moves to a free one, so the test never meets a running demo.
        let config = "\(demo)/ops.yaml"
        let text = try String(contentsOfFile: config, encoding: .utf8)
        #expect(text.contains("127.0.0.1:9110"), "the demo's listener moved; update this test")
        try text.replacingOccurrences(of: "127.0.0.1:9110", with: "127.0.0.1:\(try freePort())").write(toFile: config, atomically: true, encoding: .utf8)
        let checks = try ConfigLoader.load(path: config).checks.map(\.name)

        let daemon = try await Daemon(config: config, scratch: scratch)
        for name in checks {
            let first = try await daemon.logStream.first { $0.message == "check state changed" && $0.fields["check"] == name }
            #expect(first.fields["to"] == "ok", "\(name): \(first.fields["message"] ?? "")")
        }
        let health = try await run("opsctl", ["--config", config, "health"])
        #expect(health.status == 0 && health.stdout.hasSuffix("Overall: OK\n"), "\(health.stdout)")
        daemon.signal(SIGTERM)
        #expect(await daemon.exitStatus() == 0)
    }
}
