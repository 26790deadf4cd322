import Foundation
import Testing
import TestSupport

/// `opsctl doctor` against real installations in scratch directories: a real opsd, real files
/// with real modes, each finding with its sentence and the exit status it implies.
@Suite("opsctl doctor: one line per check, the fix for each finding, exit 0/1/2")
struct DoctorTests {
    /// One finding of `opsctl doctor --json`.
    struct Finding: Decodable {
        let name: String
        let state: String
        let message: String
        let fix: String?
    }

    struct Report: Decodable {
        struct Summary: Decodable { let ok, warn, fail, skipped: Int }
        let checks: [Finding]
        let summary: Summary
        let state: String
    }

    /// Runs `opsctl --config CONFIG doctor --json` and decodes its report.
    static func doctor(_ config: String, _ extra: [String] = []) async throws -> (status: Int32, report: Report) {
        let result = try await run("opsctl", ["--config", config, "doctor", "--json"] + extra)
        let report = try JSONDecoder().decode(Report.self, from: Data(result.stdout.utf8))
        return (result.status, report)
    }

    static func findings(_ report: Report, _ name: String) -> [Finding] {
        report.checks.filter { $0.name == name }
    }

    @Test("a healthy install: every check that applies is OK, the rest say why they were skipped, exit 0; text and JSON agree")
    func healthy() async throws {
        let scratch = try Scratch()
        let config = try scratch.config(extra: """
            workers:
              - {name: web, command: [/bin/sleep, "1000"]}
            """)
        let daemon = try await Daemon(config: config, scratch: scratch)
        let (status, report) = try await Self.doctor(config)
        let bad = report.checks.filter { $0.state != "ok" && $0.state != "skipped" }
        #expect(bad.isEmpty, "\(bad)")
        #expect(status == 0)
        #expect(report.state == "ok")
        for name in ["config", "socket", "state", "daemon", "workers"] {
            #expect(Self.findings(report, name).map(\.state) == ["ok"], "\(name): \(report.checks)")
        }
        // Skipped checks say why; none carries a fix.
        let skipped = report.checks.filter { $0.state == "skipped" }
        #expect(skipped.allSatisfy { !$0.message.isEmpty && $0.fix == nil })
        #expect(Self.findings(report, "backup-files").first?.message == "\(config) configures no backup")
        #expect(report.summary.ok + report.summary.skipped == report.checks.count)

        let text = try await run("opsctl", ["--config", config, "doctor"])
        #expect(text.status == 0)
        let lines = text.stdout.split(separator: "\n")
        #expect(lines.contains { $0.hasPrefix("OK    daemon ") })
        #expect(lines.last == "\(report.summary.ok) OK, 0 warning(s), 0 failure(s), \(report.summary.skipped) skipped")
        daemon.signal(SIGTERM)
        #expect(await daemon.exitStatus() == 0)
    }

    @Test("--json follows docs/cli-json.md: snake_case keys, fixed state words, no null")
    func jsonShape() async throws {
        let scratch = try Scratch()
        let config = try scratch.config()
        let result = try await run("opsctl", ["--config", config, "doctor", "--json"])
        let json = try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
        #expect(JSONConventionTests.offendingKeys(json).isEmpty)
        #expect(Set(json.keys) == ["checks", "summary", "state"])
        let checks = try #require(json["checks"] as? [[String: Any]])
        for check in checks {
            #expect(Set(check.keys).isSubset(of: ["name", "state", "message", "fix"]))
            #expect(["ok", "warn", "fail", "skipped"].contains(check["state"] as? String ?? ""))
            #expect(!check.values.contains { $0 is NSNull })
        }
        // opsd is not running here: a failure, so exit 2 and state fail.
        #expect(result.status == 2)
        #expect(json["state"] as? String == "fail")
    }

    @Test("a stopped opsd fails with the command that starts it; the checks that need it are skipped, saying so")
    func stopped() async throws {
        let scratch = try Scratch()
        let config = try scratch.config(extra: "workers:\n  - {name: web, command: [/bin/sleep, \"1000\"]}\n")
        let (status, report) = try await Self.doctor(config)
        #expect(status == 2)
        let daemon = try #require(Self.findings(report, "daemon").first)
        #expect(daemon.state == "fail")
        #expect(daemon.fix == "start it (opsd --config \(config)) and see its log if it stops again")
        #expect(daemon.message == "opsd is not running (no control socket at \(scratch.socket))")
        #expect(Self.findings(report, "workers").map(\.state) == ["skipped"])
        #expect(Self.findings(report, "workers").first?.message == "opsd does not answer, so its workers' states are unknown")
        #expect(Self.findings(report, "socket").first?.state == "skipped")
    }

    @Test("a fatal worker is named, with how to revive it; exit 2")
    func fatalWorker() async throws {
        let scratch = try Scratch()
        let config = try scratch.config(extra: """
            workers:
              - {name: web, command: [/bin/sleep, "1000"]}
              - {name: loop, command: [/bin/sh, -c, "exit 1"], restart: {policy: always, backoff: 10ms..10ms, burst: 2 in 60s}}
            """)
        let daemon = try await Daemon(config: config, scratch: scratch)
        _ = try await daemon.logStream.first { $0.message.hasPrefix("worker is fatal") && $0.fields["worker"] == "loop" }
        let (status, report) = try await Self.doctor(config)
        #expect(status == 2)
        let workers = Self.findings(report, "workers")
        #expect(workers.count == 1)
        #expect(workers.first?.state == "fail")
        #expect(workers.first?.message.hasPrefix("worker loop is fatal") == true)
        #expect(workers.first?.fix == "correct what makes it fail (`opsctl status`, its log), then run `opsctl workers start loop`")
        #expect(Self.findings(report, "daemon").first?.state == "ok")
        daemon.signal(SIGTERM)
        #expect(await daemon.exitStatus() == 0)
    }

    @Test("a world-writable socket directory fails with the chmod that fixes it")
    func worldWritableSocketDirectory() async throws {
        let scratch = try Scratch()
        let directory = "\(scratch.path)/run"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: false)
        #expect(chmod(directory, 0o777) == 0)
        let config = try scratch.write("ops.yaml", """
            daemon:
              socket: \(directory)/opsd.sock
              state_dir: \(scratch.path)/state
            """)
        let (status, report) = try await Self.doctor(config)
        #expect(status == 2)
        let socket = try #require(Self.findings(report, "socket").first)
        #expect(socket.state == "fail")
        #expect(socket.message == "the socket directory \(directory) is writable by every user, who could replace what opsd keeps there")
        #expect(socket.fix == "run chmod go-w \(directory) or choose another directory")
    }

    @Test("an SSH key readable by everyone fails with the chmod; a missing known_hosts fails too")
    func keyModes() async throws {
        let scratch = try Scratch()
        let key = try scratch.write("id_ed25519", "-----BEGIN OPENSSH PRIVATE KEY-----\n-----END OPENSSH PRIVATE KEY-----\n")
        #expect(chmod(key, 0o644) == 0)
        let config = try scratch.config(extra: """
            backup:
              repository: \(scratch.path)/backup.git
              databases: [\(scratch.path)/app.db]
              remote: {url: "git@backup.invalid:app.git", ssh_key: \(key), known_hosts: \(scratch.path)/known_hosts}
            """)
        let (status, report) = try await Self.doctor(config)
        #expect(status == 2)
        let files = Self.findings(report, "backup-files")
        let keyFinding = try #require(files.first { $0.message.hasPrefix(key) })
        #expect(keyFinding.state == "fail")
        #expect(keyFinding.message == "\(key) has mode 0644, so others can read or change a secret")
        #expect(keyFinding.fix == "run chmod 0600 \(key) (0640 if opsd's group must read it)")
        #expect(files.contains { $0.message == "the known_hosts file \(scratch.path)/known_hosts does not exist, so pushes to git@backup.invalid:app.git fail" })

        // Fixed, the key passes (0640 is allowed too).
        #expect(chmod(key, 0o640) == 0)
        _ = try scratch.write("known_hosts", "backup.invalid ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHd0b3JsZA==\n")
        let (_, fixed) = try await Self.doctor(config)
        #expect(!Self.findings(fixed, "backup-files").contains { $0.state == "fail" }, "\(fixed.checks)")
    }

    @Test("a state directory others can look into is a warning with the chmod, exit 1")
    func stateDirectoryMode() async throws {
        let scratch = try Scratch()
        let config = try scratch.config(extra: "workers:\n  - {name: web, command: [/bin/sleep, \"1000\"]}\n")
        let daemon = try await Daemon(config: config, scratch: scratch)
        let state = "\(scratch.path)/state"
        #expect(chmod(state, 0o755) == 0)
        let (status, report) = try await Self.doctor(config)
        #expect(status == 1)
        #expect(report.state == "warn")
        let finding = try #require(Self.findings(report, "state").first)
        #expect(finding.state == "warn")
        #expect(finding.message == "the state directory \(state) has mode 0755, so other users can look into opsd's state")
        #expect(finding.fix == "run chmod 0750 \(state)")
        daemon.signal(SIGTERM)
        #expect(await daemon.exitStatus() == 0)
    }

    @Test("an RSA key (OpenSSH or PEM format) warns that libssh2 1.10 cannot sign it as OpenSSH 8.8+ servers expect; an ed25519 key is OK")
    func rsaKey() async throws {
        let scratch = try Scratch()
        _ = try scratch.write("known_hosts", "backup.invalid ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHd0b3JsZA==\n")
        func finding(keyType: String, format: [String]) async throws -> Finding {
            let key = "\(scratch.path)/id_\(keyType)\(format.isEmpty ? "" : "_pem")"
            let made = try await run("/usr/bin/ssh-keygen", ["-q", "-t", keyType, "-N", "", "-f", key] + format)
            try #require(made.status == 0, "\(made.stderr)")
            let config = try scratch.config(extra: """
                backup:
                  repository: \(scratch.path)/backup.git
                  databases: [\(scratch.path)/app.db]
                  remote: {url: "git@backup.invalid:app.git", ssh_key: \(key), known_hosts: \(scratch.path)/known_hosts}
                """)
            let (_, report) = try await Self.doctor(config)
            return try #require(Self.findings(report, "ssh-key").first)
        }
        for format in [[], ["-m", "PEM"]] {
            let rsa = try await finding(keyType: "rsa", format: format)
            #expect(rsa.state == "warn", "\(rsa)")
            #expect(rsa.message.contains("is an RSA key, and libssh2 1.10"), "\(rsa.message)")
            #expect(rsa.fix?.hasPrefix("make an ed25519 key (ssh-keygen -t ed25519 -f NEWFILE)") == true)
        }
        let ed25519 = try await finding(keyType: "ed25519", format: [])
        #expect(ed25519.state == "ok", "\(ed25519)")
        #expect(ed25519.message.hasSuffix("is an ED25519 key, which libssh2 signs as servers expect"))
    }

    @Test("the remote is contacted only with --remote, through opsctl-backup: unreachable fails, empty warns, fetched is OK")
    func remote() async throws {
        let scratch = try Scratch()
        let database = "\(scratch.path)/app.db"
        let created = try await run("/usr/bin/sqlite3", [database, "CREATE TABLE t (x); INSERT INTO t VALUES (1);"])
        try #require(created.status == 0, "\(created.stderr)")
        let bare = try await run("/usr/bin/git", ["init", "-q", "--bare", "\(scratch.path)/remote.git"])
        try #require(bare.status == 0, "\(bare.stderr)")
        func config(remote: String) throws -> String {
            try scratch.config(extra: """
                backup:
                  repository: \(scratch.path)/backup.git
                  databases: [\(database)]
                  remote: {url: \(remote), branch: doctor}
                """)
        }
        func finding(_ config: String, _ extra: [String] = ["--remote"]) async throws -> Finding {
            try #require(Self.findings(try await Self.doctor(config, extra).report, "remote").first)
        }
        let missing = try config(remote: "\(scratch.path)/nothere.git")
        let unreachable = try await finding(missing)
        #expect(unreachable.state == "fail")
        #expect(unreachable.message.hasPrefix("cannot fetch from \(scratch.path)/nothere.git"), "\(unreachable.message)")

        let good = try config(remote: "\(scratch.path)/remote.git")
        let notContacted = try await finding(good, [])
        #expect(notContacted.state == "skipped")
        #expect(notContacted.message == "\(scratch.path)/remote.git was not contacted; pass --remote to fetch from it through opsctl-backup")
        let empty = try await finding(good)
        #expect(empty.state == "warn", "\(empty)")
        #expect(empty.message == "the remote \(scratch.path)/remote.git has no branch doctor")
        let backup = try await run("opsctl", ["--config", good, "backup"])
        try #require(backup.status == 0, "\(backup.stdout)\(backup.stderr)")
        let fetched = try await finding(good)
        #expect(fetched.state == "ok", "\(fetched)")
        #expect(fetched.message == "opsctl-backup fetched this host's branch from \(scratch.path)/remote.git")
    }

    @Test("backup freshness from opsd's status: none taken yet warns with how to take one, exit 1; after `opsctl backup` it is OK, exit 0")
    func backupFreshness() async throws {
        let scratch = try Scratch()
        let database = "\(scratch.path)/app.db"
        let created = try await run("/usr/bin/sqlite3", [database, "CREATE TABLE t (x); INSERT INTO t VALUES (1);"])
        try #require(created.status == 0, "\(created.stderr)")
        let repository = "\(scratch.path)/backup.git"
        let config = try scratch.config(extra: """
            backup:
              repository: \(repository)
              databases: [\(database)]
            """)
        let daemon = try await Daemon(config: config, scratch: scratch)
        let (before, report) = try await Self.doctor(config)
        #expect(before == 1)
        let none = try #require(Self.findings(report, "backup").first)
        #expect(none.state == "warn")
        #expect(none.message == "no backup of \(repository) has been taken yet")
        #expect(none.fix == "run `opsctl backup`, and give backup.schedule or use opsd-backup.timer (deploy/README.md)")

        let backup = try await run("opsctl", ["--config", config, "backup"])
        try #require(backup.status == 0, "\(backup.stdout)\(backup.stderr)")
        let (after, fresh) = try await Self.doctor(config)
        #expect(Self.findings(fresh, "backup").first?.state == "ok", "\(fresh.checks)")
        #expect(Self.findings(fresh, "backup-files").map(\.state) == ["ok"], "\(fresh.checks)")
        #expect(after == 0, "\(fresh.checks)")
        daemon.signal(SIGTERM)
        #expect(await daemon.exitStatus() == 0)
    }

    @Test("a config this user cannot read says so and how to run doctor instead (not that it is missing); a socket directory not made yet is skipped")
    func unreadableConfig() async throws {
        let scratch = try Scratch()
        let config = try scratch.write("ops.yaml", """
            daemon:
              socket: \(scratch.path)/run/opsd.sock
              state_dir: \(scratch.path)/state
            """)
        // mkdtemp made the scratch directory 0700: nobody cannot look into it.
        let result = try await run("/usr/bin/setpriv", ["--reuid=65534", "--regid=65534", "--clear-groups", "\(binDirectory)/opsctl", "--config", config, "doctor", "--json"])
        let report = try JSONDecoder().decode(Report.self, from: Data(result.stdout.utf8))
        #expect(result.status == 2)
        let finding = try #require(Self.findings(report, "config").first)
        #expect(finding.message == "\(config) cannot be examined by uid 65534: Permission denied")
        #expect(finding.fix == "run opsctl doctor as root or as a member of opsd's group")

        let (_, asRoot) = try await Self.doctor(config)
        #expect(Self.findings(asRoot, "socket").map(\.state) == ["skipped"])
        #expect(Self.findings(asRoot, "socket").first?.message == "the socket directory \(scratch.path)/run does not exist (opsd is not running; it is made when opsd starts)")
    }
}
