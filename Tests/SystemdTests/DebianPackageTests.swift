import Foundation
import Testing
import TestSupport

/// The package of `make deb` installed, upgraded, removed and purged by dpkg under a real
/// systemd, in a sandbox of its own (`systemd-sandbox -n deb`, loopback-only network): the
/// package's /usr/bin, /lib/systemd/system and maintainer scripts never meet the main suite's
/// /usr/local install, and both can run at once (issue 17 item 3).
///
/// It packages the debug build (`scripts/deb.sh --bin-dir`, gzip -1): a release build takes
/// minutes, and the test is about the package, not the binaries. The debug programs need the
/// Swift runtime in /opt/swift, bound read-only into the sandbox; the release build's do not.
/// Measured cost on the 2-core VM: about 50 s (two package builds ~20 s, lintian ~15 s, the
/// sandbox's boot, dpkg and systemd ~15 s).
@Suite(
    "the Debian package under dpkg and systemd",
    .enabled(if: ProcessInfo.processInfo.environment["OPS_SYSTEMD_TESTS"] == "1", "needs root and the systemd sandbox; `make test` provides both")
)
struct DebianPackageTests {
    static let name = "deb"

    /// A command inside the package's sandbox.
    static func inside(_ script: String) async throws -> CommandResult {
        try await run(Sandbox.tool, ["-n", name, "exec", "--", "sh", "-c", script])
    }

    /// The output of `script` inside, trimmed; the script must succeed.
    static func value(_ script: String) async throws -> String {
        let result = try await inside(script)
        guard result.status == 0 else { throw TestFailure("\(script) exited \(result.status): \(result.stderr)") }
        return result.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// Builds the package of version `version` into `directory` and returns its path.
    static func build(version: String, into directory: String) async throws -> String {
        let built = try await run("\(repositoryRoot)/scripts/deb.sh", ["--bin-dir", binDirectory, "--version", version, "--out", directory, "-Zgzip", "-z1"])
        guard built.status == 0 else { throw TestFailure("scripts/deb.sh failed: \(built.stderr)") }
        return built.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    @Test("install enables and starts opsd with the starter config and the ops user; an upgrade keeps the edited config and the state and restarts opsd; remove keeps the state, purge drops it; lintian finds no error")
    func lifecycle() async throws {
        let scratch = NSTemporaryDirectory() + "deb-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: scratch, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: scratch) }
        let first = try await Self.build(version: "0.1.0+test1", into: scratch)
        let second = try await Self.build(version: "0.1.0+test2", into: scratch)

        // No error (E:) from lintian; its warnings are fixed or overridden with a reason in deploy/debian.
        let lint = try await run("/usr/bin/lintian", ["--no-cfg", first])
        let lines = (lint.stdout + lint.stderr).split(separator: "\n").filter { !$0.contains("root privileges") }
        #expect(lines.isEmpty, "lintian: \(lines.joined(separator: "\n"))")

        // The rootfs is shared with the main sandbox: the same package list, or it would be rebuilt.
        let packages = ProcessInfo.processInfo.environment["SANDBOX_EXTRA_PACKAGES"] ?? "cron libyaml-0-2 libisal2"
        let up = try await run(Sandbox.tool, ["-n", Self.name, "up"], environment: [
            "SANDBOX_NSPAWN_ARGS": "--bind-ro=/opt/swift", "SANDBOX_PRIVATE_NETWORK": "1", "SANDBOX_EXTRA_PACKAGES": packages,
        ])
        try #require(up.status == 0, "systemd-sandbox -n deb up failed: \(up.stderr)")
        // Down whatever happens: this sandbox is the test's alone.
        do { try await Self.exercise(first, second) } catch {
            _ = try? await run(Sandbox.tool, ["-n", Self.name, "down"])
            throw error
        }
        _ = try await run(Sandbox.tool, ["-n", Self.name, "down"])
    }

    static func exercise(_ first: String, _ second: String) async throws {
        var copies: [String] = []
        for deb in [first, second] {
            let inside = "/root/" + URL(fileURLWithPath: deb).lastPathComponent
            let copied = try await run(Sandbox.tool, ["-n", Self.name, "copy", deb, inside])
            try #require(copied.status == 0, "\(copied.stderr)")
            copies.append(inside)
        }
        let (firstInside, secondInside) = (copies[0], copies[1])

        // Install: the user, the unit enabled and running (postinst's start returns at READY=1).
        let installed = try await Self.inside("dpkg -i \(firstInside)")
        #expect(installed.status == 0, "\(installed.stdout)\(installed.stderr)")
        #expect(try await Self.value("systemctl is-enabled opsd.service") == "enabled")
        #expect(try await Self.value("systemctl is-active opsd.service") == "active")
        #expect(try await Self.value("id -un ops; getent group ops >/dev/null && echo group") == "ops\ngroup")
        let starter = try String(contentsOfFile: "\(repositoryRoot)/deploy/ops.yaml", encoding: .utf8)
        #expect(try await Self.inside("cat /etc/ops/ops.yaml").stdout == starter)
        #expect(try await Self.value("stat -c '%U:%G %a' /etc/ops /etc/ops/ops.yaml /var/lib/ops") == "root:ops 750\nroot:ops 640\nops:ops 750")
        let documents = ["doc/opsd/examples/ops.yaml", "man/man8/opsd.8.gz", "man/man8/opsctl.8.gz", "man/man5/ops.yaml.5.gz", "bash-completion/completions/opsctl"]
        #expect(try await inside(documents.map { "test -f /usr/share/\($0)" }.joined(separator: " && ")).status == 0)
        // The programs were stamped with the commit they were packaged from.
        #expect(try await Self.value("opsd --version | head -n 1").hasPrefix("opsd 0.1.0, commit "))
        #expect(!(try await Self.value("opsctl --version | head -n 1")).contains("unknown"))

        // opsctl status answers a member of the group ops, and refuses anyone else.
        _ = try await Self.inside("useradd --no-create-home --groups ops alice")
        let member = try await Self.inside("runuser -u alice -- opsctl status")
        #expect(member.status == 0, "\(member.stdout)\(member.stderr)")
        #expect(member.stdout.contains("opsd 0.1.0"), "\(member.stdout)")
        let stranger = try await Self.inside("setpriv --reuid=65534 --regid=65534 --clear-groups opsctl status")
        #expect(stranger.status != 0, "\(stranger.stdout)")

        // Upgrade: the operator's edit and opsd's state survive; opsd runs the new version.
        _ = try await Self.inside("echo '# edited by the operator' >> /etc/ops/ops.yaml && touch /var/lib/ops/operator-marker")
        let pid = try await Self.value("systemctl show -p MainPID --value opsd.service")
        let upgraded = try await Self.inside("dpkg -i \(secondInside)")
        #expect(upgraded.status == 0, "\(upgraded.stdout)\(upgraded.stderr)")
        #expect(try await Self.value("dpkg-query -W -f '${Version}' opsd") == "0.1.0+test2")
        #expect(try await Self.inside("cat /etc/ops/ops.yaml").stdout == starter + "# edited by the operator\n")
        #expect(try await Self.value("systemctl is-active opsd.service") == "active")
        #expect(try await Self.value("systemctl show -p MainPID --value opsd.service") != pid, "not restarted by the upgrade")
        #expect(try await Self.inside("test -f /var/lib/ops/operator-marker && test -f /var/lib/ops/state.db").status == 0)

        // Remove: stopped, programs gone, config and state kept.
        let removed = try await Self.inside("dpkg -r opsd")
        #expect(removed.status == 0, "\(removed.stdout)\(removed.stderr)")
        #expect(try await Self.inside("systemctl is-active opsd.service").stdout.hasPrefix("inactive"))
        #expect(try await Self.inside("test -e /usr/bin/opsd").status != 0)
        #expect(try await Self.inside("test -f /var/lib/ops/operator-marker && test -f /etc/ops/ops.yaml").status == 0)

        // Purge: config and state gone; the user stays (Debian's advice: its uid may own files elsewhere).
        let purged = try await Self.inside("dpkg -P opsd")
        #expect(purged.status == 0, "\(purged.stdout)\(purged.stderr)")
        #expect(try await Self.inside("test -e /var/lib/ops || test -e /etc/ops").status != 0)
        #expect(try await Self.inside("dpkg-statoverride --list /etc/ops").status != 0)
        #expect(try await Self.inside("systemctl is-enabled opsd.service").stdout.trimmingCharacters(in: .whitespacesAndNewlines) != "enabled")
    }
}
