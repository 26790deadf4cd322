import Foundation
import Testing
@testable import OpsConfig

/// Issue 16 item 6: `environment_file:` in the syntax of systemd's `EnvironmentFile=`.
@Suite("environment files")
struct EnvironmentFileTests {
    @Test("systemd's syntax: comments, blank lines, quotes, escapes, continuation lines, trimmed whitespace")
    func syntax() {
        let contents = EnvironmentFile.parse("""
            # a comment
            ; another
              PLAIN = value with spaces   \n\
            EMPTY=
            SINGLE='it''s $HOME \\n'
            DOUBLE="say \\"hi\\" \\$HOME \\n"
            LONG=first \\
            second
            LAST=x
            """)
        #expect(contents.problems.isEmpty)
        #expect(contents.assignments.map(\.name) == ["PLAIN", "EMPTY", "SINGLE", "DOUBLE", "LONG", "LAST"])
        #expect(contents.assignments.map(\.value) == ["value with spaces", "", "its $HOME \\n", "say \"hi\" $HOME \\n", "first second", "x"])
    }

    @Test("a line it cannot use is named by its number, and its value is never shown")
    func problems() {
        let contents = EnvironmentFile.parse("OK=1\nno equals sign\n1BAD=secret-value\nOPEN=\"secret-value\n")
        #expect(contents.assignments.map(\.name) == ["OK"])
        #expect(contents.problems.map(\.line) == [2, 3, 4])
        #expect(!contents.problems.contains { $0.reason.contains("secret-value") })
    }

    @Test("workers and command jobs read their files when the config is read; a missing file is an error at the key and line unless written -PATH")
    func configuration() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("envfile-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try "TOKEN=from-file\nSHARED=file\n".write(toFile: "\(directory)/app.env", atomically: true, encoding: .utf8)
        let loaded = ConfigLoader.parse(yaml: """
            workers:
              - {name: app, command: [/bin/true], environment: {SHARED: inline, KEPT: yes}, environment_file: [app.env, -missing.env]}
            jobs:
              - {name: job, every: 1h, command: [/bin/true], environment_file: app.env}
            """, baseDirectory: directory)
        #expect(loaded.diagnostics.isEmpty)
        let worker = try #require(loaded.configuration.workers.first)
        #expect(worker.environment == ["TOKEN": "from-file", "SHARED": "file", "KEPT": "yes"])
        #expect(worker.environmentFiles == [EnvironmentFile(path: "\(directory)/app.env"), EnvironmentFile(path: "\(directory)/missing.env", optional: true)])
        guard case .command(let job) = loaded.configuration.jobs.first?.action else { Issue.record("not a command job"); return }
        #expect(job.environment == ["TOKEN": "from-file", "SHARED": "file"])
        #expect(ConfigSecrets.files(in: loaded.configuration).map(\.key) == ["workers[0].environment_file", "workers[0].environment_file", "jobs[0].environment_file"])

        try "A=1\nsecret-value\n".write(toFile: "\(directory)/bad.env", atomically: true, encoding: .utf8)
        let broken = ConfigLoader.parse(yaml: """
            workers:
              - name: app
                command: [/bin/true]
                environment_file: [missing.env, bad.env]
            jobs:
              - {name: dump, every: 1h, prune: {keep: 30d}, environment_file: app.env}
            """, baseDirectory: directory).diagnostics.map(\.description)
        #expect(broken == [
            "workers[0].environment_file: \(directory)/missing.env does not exist; create it, or write -\(directory)/missing.env if it may be missing (line 4)",
            "workers[0].environment_file: \(directory)/bad.env line 2 has no \"=\"; write NAME=VALUE (line 4)",
            "jobs[0].environment_file: applies to command jobs only; remove it (line 6)",
        ])
    }
}

@Suite("environment: values from files and opsd's environment")
struct EnvironmentReferenceConfigTests {
    @Test("{file:} is the file's first line, resolved beside the config; {env:} opsd's variable; both are secrets")
    func references() throws {
        let directory = NSTemporaryDirectory() + "env-ref-\(getpid())"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try "one\ntwo\n".write(toFile: "\(directory)/secret", atomically: true, encoding: .utf8)
        let result = ConfigLoader.parse(yaml: """
            workers:
              - {name: app, command: [/bin/true], environment: {A: {file: secret}, B: {env: OPS_TEST_REFERENCE}, C: plain}}
            """, baseDirectory: directory)
        #expect(result.diagnostics.isEmpty, "\(result.diagnostics)")
        let app = try #require(result.configuration.workers.first)
        // opsd's variable is read when the worker starts, in opsd: opsctl lacks opsd's environment.
        #expect(app.environment == ["A": "one", "C": "plain"])
        #expect(try app.variables(from: ["OPS_TEST_REFERENCE": "from-env"]) == ["B": "from-env"])
        #expect(throws: MissingVariable(key: "B", variable: "OPS_TEST_REFERENCE")) { try app.variables(from: [:]) }
        #expect(app.environmentReferences == ["A": .file("\(directory)/secret"), "B": .variable("OPS_TEST_REFERENCE")])
        #expect(ConfigSecrets.files(in: result.configuration).map(\.key) == ["workers[0].environment.A"])
        #expect(ConfigSecrets.environmentVariables(in: result.configuration) == ["OPS_TEST_REFERENCE"])
    }

    @Test("a missing file and an empty source are errors with key path and line")
    func problems() {
        let result = ConfigLoader.parse(yaml: """
            workers:
              - name: app
                command: [/bin/true]
                environment:
                  A: {file: /nonexistent/secret}
                  B: {env: OPS_TEST_UNSET}
                  C: {}
                  D: {value: x}
            """, baseDirectory: "/etc/ops")
        #expect(result.diagnostics.map(\.description) == [
            "workers[0].environment.A: /nonexistent/secret does not exist; create it or name another file (line 5)",
            "workers[0].environment.C: names no source; write {file: PATH} or {env: VARIABLE} (line 7)",
            #"workers[0].environment.D.value: unknown key; expected one of: file, env (line 8)"#,
            "workers[0].environment.D: names no source; write {file: PATH} or {env: VARIABLE} (line 8)",
        ])
        // A job reads its environment when it is loaded, in opsctl too: no {env:} there.
        #expect(ConfigLoader.parse(yaml: """
            jobs:
              - {name: report, command: [/bin/true], every: 1h, environment: {A: {env: HOME}}}
            """, baseDirectory: "/etc/ops").diagnostics.map(\.description) == [
            "jobs[0].environment.A: {env: …} is for workers' environment:; write {file: PATH} here (line 2)",
        ])
    }
}

/// A file the config reads at load that someone else controls is refused, with the fix: such a
/// file could be swapped for a link to a secret opsd may read, or edited to set a worker's
/// `LD_PRELOAD`.
@Suite("files read at load: only root and opsd's user decide where they lead", .enabled(if: geteuid() == 0, "chown needs root"))
struct TrustedConfigFileTests {
    static func load(_ directory: String, _ file: String) -> [String] {
        ConfigLoader.parse(yaml: """
            workers:
              - {name: app, command: [/bin/true], environment_file: \(file), environment: {TOKEN: {file: \(file)}}}
            """, baseDirectory: directory).diagnostics.map(\.description)
    }

    @Test("a file in a directory another user owns or anyone may write, behind another user's link, or writable by its group is refused; root's own file and link pass")
    func refusedUnlessTrusted() throws {
        let base = NSTemporaryDirectory() + "trusted-file-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: base, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: base) }
        let secret = "\(base)/opsd-secret"
        try "KEY=opsd-only-secret\n".write(toFile: secret, atomically: true, encoding: .utf8)
        #expect(chmod(secret, 0o600) == 0)

        // The control: a file and a link of root's, in root's directory.
        #expect(symlink(secret, "\(base)/link.env") == 0)
        #expect(Self.load(base, "opsd-secret").isEmpty)
        #expect(Self.load(base, "link.env").isEmpty)

        // Another user's directory: they could make app.env a link to opsd-secret.
        let theirs = "\(base)/theirs"
        try FileManager.default.createDirectory(atPath: theirs, withIntermediateDirectories: false)
        try "A=1\n".write(toFile: "\(theirs)/app.env", atomically: true, encoding: .utf8)
        #expect(chown(theirs, 65534, 65534) == 0)
        let owned = Self.load(base, "theirs/app.env")
        #expect(owned.count == 2 && owned.allSatisfy { $0.contains("is owned by uid 65534") && $0.contains("chown") }, "\(owned)")

        // A directory anyone may write (not sticky).
        let open = "\(base)/open"
        try FileManager.default.createDirectory(atPath: open, withIntermediateDirectories: false)
        try "A=1\n".write(toFile: "\(open)/app.env", atomically: true, encoding: .utf8)
        #expect(chmod(open, 0o777) == 0)
        #expect(Self.load(base, "open/app.env").first?.contains("is writable by every user") == true)

        // Root's directory, but the link in it is another user's.
        #expect(symlink("\(theirs)/app.env", "\(base)/their-link.env") == 0)
        #expect(lchown("\(base)/their-link.env", 65534, 65534) == 0)
        #expect(Self.load(base, "their-link.env").first?.contains("is a symbolic link owned by uid 65534") == true)

        // Root's link into another user's directory.
        #expect(symlink("\(theirs)/app.env", "\(base)/into-theirs.env") == 0)
        let behind = Self.load(base, "into-theirs.env")
        #expect(behind.first?.contains("behind the link") == true && behind.first?.contains("owned by uid 65534") == true, "\(behind)")

        // A file its group may write.
        try "A=1\n".write(toFile: "\(base)/group.env", atomically: true, encoding: .utf8)
        #expect(chmod("\(base)/group.env", 0o664) == 0)
        #expect(Self.load(base, "group.env").first?.contains("chmod g-w") == true)

        // Nothing refused leaks the secret.
        for diagnostics in [owned, behind] { #expect(!diagnostics.joined().contains("opsd-only-secret")) }
    }
}
