import Backup
import Foundation
import OpsAPI
import OpsConfig
import Testing
import TestSupport

@Suite("Backup: secrets never leave the host", .serialized)
struct SecretsTests {
    /// A unique string that appears nowhere unless a secret leaked.
    static func canary(_ place: String) -> String { "canary\(place)" + UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased() }

    @Test("canary secrets in every secret place of the config: none reaches the remote's objects, the commits or the output")
    func canariesStayHome() async throws {
        let fixture = try Fixture()
        _ = try await run("/usr/bin/git", ["init", "--quiet", "--bare", fixture.remote])
        let etc = fixture.directory + "/etc"
        let canaries = [
            "token": Self.canary("token"), "sshkey": Self.canary("sshkey"), "headerfile": Self.canary("headerfile"),
            "workerenv": Self.canary("workerenv"), "anchored": Self.canary("anchored"), "quoted": Self.canary("quoted"),
            "block": Self.canary("block"), "jobenv": Self.canary("jobenv"), "webhook": Self.canary("webhook"),
            "checkurl": Self.canary("checkurl"), "header": Self.canary("header"), "redis": Self.canary("redis"),
            "fragment": Self.canary("fragment"),
        ]
        func value(_ key: String) -> String { canaries[key] ?? "" }
        try (value("token") + "\n").write(toFile: etc + "/git-token", atomically: true, encoding: .utf8)
        try ("-----BEGIN OPENSSH PRIVATE KEY-----\n" + value("sshkey") + "\n-----END OPENSSH PRIVATE KEY-----\n").write(toFile: etc + "/id_backup", atomically: true, encoding: .utf8)
        try (value("headerfile") + "\n").write(toFile: etc + "/api-key", atomically: true, encoding: .utf8)
        let config = etc + "/ops.yaml"
        let yaml = """
            # the operator's comment stays
            daemon:
              socket: \(fixture.directory)/opsd.sock
              state_dir: \(fixture.stateDirectory)
            workers:
              - name: app            # é, so a character is not a byte
                command: [/bin/sleep, "600"]
                environment: &appenv
                  API_KEY: \(value("workerenv"))
                  SHARED: \(value("anchored"))
                  QUOTED: "say \\"\(value("quoted"))\\""
                  MULTI: |
                    first line
                    \(value("block"))
                  PORT: 8080
              - name: app2
                command: [/bin/sleep, "600"]
                environment: *appenv
            checks:
              - name: web
                http: http://127.0.0.1:9/health?token=\(value("checkurl"))&plain=yes#\(value("fragment"))
              - name: api
                http:
                  url: https://127.0.0.1:9/
                  headers: {X-Api-Key: \(value("header")), Authorization: {file: \(etc)/api-key}}
              - name: queue
                queue: {redis: "redis://\(value("redis"))@127.0.0.1:6379/0", key: jobs}
            jobs:
              - name: export
                every: 1h
                command: [/bin/true]
                environment: {EXPORT_TOKEN: \(value("jobenv"))}
            backup:
              repository: \(fixture.repository)
              databases: [\(fixture.database)]
              files: [\(etc)]
              remote:
                url: \(fixture.remote)
                ssh_key: \(etc)/id_backup
                token_file: \(etc)/git-token
            alerts:
              - webhook: https://hooks.example.com/services/\(value("webhook"))

            """
        try yaml.write(toFile: config, atomically: true, encoding: .utf8)
        let check = ConfigLoader.read(path: config)
        #expect(check.diagnostics.isEmpty, "\(check.diagnostics)")
        // What `opsctl config check` can warn about before any backup runs.
        #expect(Set(ConfigSecrets.filesInBackup(of: check.configuration).map(\.key)) == [
            "backup.remote.token_file", "backup.remote.ssh_key", "checks[1].http.headers.Authorization",
        ])

        let backup = try await run("opsctl", ["backup", "--config", config, "--json"])
        #expect(backup.status == 0, "\(backup.stderr)")
        let outcome = try WireJSON.decoder.decode(BackupOutcome.self, from: Data(backup.stdout.utf8))
        #expect(outcome.push.state == .pushed)
        #expect(Set(outcome.secretFilesLeftOut) == [
            "\(etc)/git-token (backup.remote.token_file)", "\(etc)/id_backup (backup.remote.ssh_key)", "\(etc)/api-key (checks[1].http.headers.Authorization)",
        ])
        #expect(outcome.maskedFiles == [config])
        #expect(backup.stderr.contains("not storing a file the configuration names as a secret"), "\(backup.stderr)")

        // Every object the remote has, decompressed, and every commit message.
        let dump = fixture.directory + "/objects.dump"
        let objects = try await run("/bin/sh", ["-c", "git --git-dir='\(fixture.remote)' cat-file --batch-all-objects --batch > '\(dump)'"])
        #expect(objects.status == 0)
        let bytes = try Data(contentsOf: URL(fileURLWithPath: dump))
        #expect(bytes.range(of: Data("name: demo".utf8)) != nil, "the other config files are stored")
        let log = try await fixture.git(["log", "--format=%B", "--all"], in: fixture.remote)
        for (place, canary) in canaries {
            #expect(bytes.range(of: Data(canary.utf8)) == nil, "the \(place) secret reached the remote")
            #expect(!log.stdout.contains(canary), "the \(place) secret is in a commit message")
            #expect(!backup.stdout.contains(canary) && !backup.stderr.contains(canary), "the \(place) secret is in the output")
        }

        // The stored config reads like the original, line for line, and says what was masked.
        let stored = try await fixture.git(["show", "\(BackupPlan.hostName()):files\(config)"], in: fixture.remote)
        let storedLines = stored.stdout.split(separator: "\n", omittingEmptySubsequences: false)
        let originalLines = yaml.split(separator: "\n", omittingEmptySubsequences: false)
        #expect(storedLines.count == originalLines.count, "\(stored.stdout)")
        #expect(stored.stdout.contains("# the operator's comment stays"))
        #expect(stored.stdout.contains("API_KEY: \"<masked>\""))
        #expect(stored.stdout.contains("http://127.0.0.1:9/health?token=<masked>&plain=<masked>#<masked>"))
        #expect(stored.stdout.contains("https://hooks.example.com/<masked>"))
        #expect(stored.stdout.contains("redis://<masked>@127.0.0.1:6379/0"))
        #expect(stored.stdout.contains("Authorization: {file: \(etc)/api-key}"), "a file reference is no secret")
        for (index, line) in originalLines.enumerated() where !canaries.values.contains(where: { line.contains($0) }) && !line.contains("PORT") && !line.contains("first line") && !line.contains("MULTI") {
            #expect(storedLines[index] == line, "line \(index + 1) is unchanged")
        }
        let manifest = try await fixture.git(["show", "\(BackupPlan.hostName()):manifest.json"], in: fixture.remote)
        #expect(manifest.stdout.contains("\"masked_files\""), "\(manifest.stdout)")
        let message = try await fixture.git(["log", "-1", "--format=%B", BackupPlan.hostName()], in: fixture.remote)
        #expect(message.stdout.contains("\(config) is stored with its secret values masked"))
    }

    @Test("a config that cannot be masked is not stored; a note says why")
    func unmaskableConfigNotStored() {
        #expect(ConfigSecrets.masked("workers: [ {name: a, environment: {A: \"unterminated }") == nil)
        let masked = ConfigSecrets.masked("workers:\n  - name: a\n    environment: {A: secret1234, B: \"\"}\n")
        #expect(masked?.text == "workers:\n  - name: a\n    environment: {A: \"<masked>\", B: \"\"}\n")
        #expect(masked?.maskedValues == 1)
    }

    @Test("a byte order mark, an anchored secret and its alias, a tag: every secret character is masked and the copy still reads")
    func awkwardYAML() throws {
        let bom = ConfigSecrets.masked("\u{FEFF}workers:\n  - name: a\n    environment:\n      PW: hunter2\n")
        #expect(bom?.text == "\u{FEFF}workers:\n  - name: a\n    environment:\n      PW: \"<masked>\"\n")
        let anchored = try #require(ConfigSecrets.masked("workers:\n  - name: a\n    command: [x]\n    environment: {PW: &pw hunter2}\n  - name: b\n    command: [x]\n    environment: {PW: *pw}\n"))
        #expect(!anchored.text.contains("hunter2"))
        #expect(anchored.text == "workers:\n  - name: a\n    command: [x]\n    environment: {PW: &pw \"<masked>\"}\n  - name: b\n    command: [x]\n    environment: {PW: *pw}\n")
        let loaded = ConfigLoader.parse(yaml: anchored.text, baseDirectory: "/")
        #expect(loaded.diagnostics.isEmpty, "\(loaded.diagnostics)")
        #expect(loaded.configuration.workers.map { $0.environment["PW"] } == ["<masked>", "<masked>"])
        let tagged = ConfigSecrets.masked("workers:\n  - name: a\n    environment: {PW: !!str hunter2}\n")
        #expect(tagged?.text == "workers:\n  - name: a\n    environment: {PW: !!str \"<masked>\"}\n")
        // An anchor on a mapping key cannot be masked where its alias stands: not stored at all.
        #expect(ConfigSecrets.masked("workers:\n  - name: a\n    environment: {&t hunter2: x, PW: *t}\n") == nil)
    }

    @Test("token_file with a plain http:// remote is refused: the token would travel in clear text")
    func tokenOverHTTPRefused() async throws {
        let fixture = try Fixture()
        try "t0ken\n".write(toFile: fixture.directory + "/token", atomically: true, encoding: .utf8)
        try fixture.writeConfig(remote: "    url: http://127.0.0.1:9/backup.git\n    token_file: \(fixture.directory)/token\n")
        #expect(throws: BackupError("backup.remote.url http://127.0.0.1:9/backup.git is plain http://, which would send the token of token_file in clear text; use an https:// URL")) {
            try fixture.runner()
        }
        let backup = try await fixture.opsctl(["backup"])
        #expect(backup.status == 1)
        #expect(backup.stderr.contains("use an https:// URL"), "\(backup.stderr)")
    }
}

@Suite("Backup: links and leftovers")
struct FileSelectionTests {
    @Test("a symbolic link in backup.files is not followed and is reported, never skipped silently")
    func linksReported() async throws {
        let fixture = try Fixture()
        let outside = fixture.directory + "/outside.txt"
        try "elsewhere\n".write(toFile: outside, atomically: true, encoding: .utf8)
        #expect(symlink(outside, fixture.directory + "/etc/linked.yaml") == 0)
        #expect(symlink(outside, fixture.directory + "/single-link") == 0)
        try fixture.writeConfig(remote: nil)
        var yaml = try String(contentsOfFile: fixture.configPath, encoding: .utf8)
        yaml = yaml.replacingOccurrences(of: "files: [\(fixture.directory)/etc]", with: "files: [\(fixture.directory)/etc, \(fixture.directory)/single-link]")
        try yaml.write(toFile: fixture.configPath, atomically: true, encoding: .utf8)
        let backup = try await fixture.opsctl(["backup"])
        #expect(backup.status == 0, "\(backup.stderr)")
        #expect(backup.stdout.contains("warning: \(fixture.directory)/etc/linked.yaml is a symbolic link; not followed, not stored"), "\(backup.stdout)")
        #expect(backup.stdout.contains("warning: \(fixture.directory)/single-link is a symbolic link"), "\(backup.stdout)")
        #expect(backup.stderr.contains("symbolic link not followed"), "\(backup.stderr)")
        let tree = try await fixture.git(["ls-tree", "-r", "--name-only", "HEAD"])
        #expect(!tree.stdout.contains("linked.yaml") && !tree.stdout.contains("single-link"))
        #expect(tree.stdout.contains("etc/app.yaml"))
    }

    @Test("temporary packs and locks a killed backup left behind are removed by the next backup")
    func leftoversRemoved() async throws {
        let fixture = try Fixture()
        _ = try await fixture.runner().run()
        let pack = fixture.repository + "/objects/pack/"
        let stale = [pack + "pack_git2_5f1d2c3b4a596877", pack + "pack_git2_5f1d2c3b4a59idx.lock", pack + "tmp_pack_Xy12ab", fixture.repository + "/refs/heads/\(BackupPlan.hostName()).lock"]
        for file in stale { #expect(FileManager.default.createFile(atPath: file, contents: Data(repeating: 7, count: 4096))) }
        try fixture.churn(0.01)
        let outcome = try await fixture.runner().run()
        #expect(outcome.commit != nil, "the branch lock left behind does not block the backup")
        for file in stale { #expect(!FileManager.default.fileExists(atPath: file), "\(file) is still there") }
        let fsck = try await fixture.git(["fsck", "--strict"])
        #expect(fsck.status == 0 && !fsck.stderr.contains("garbage"), "\(fsck.stderr)")
    }
}
