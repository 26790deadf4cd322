import Backup
import Foundation
import OpsAPI
import Testing
import TestSupport

@Suite("restore --files: the config files of backup.files, each shown as a unified diff before it is written")
struct FileRestoreTests {
    @Test("--dry-run shows the diffs and writes nothing; then the files are restored (old ones kept aside), the masked config never; --to writes below a directory")
    func restoreConfigFiles() async throws {
        let fixture = try Fixture(rows: 200)
        let app = fixture.directory + "/etc/app.yaml"
        let other = fixture.directory + "/etc/other.conf"
        try "port: 8080\n".write(toFile: other, atomically: true, encoding: .utf8)
        // The configuration inside backup.files: stored with its secret values masked.
        let configPath = fixture.directory + "/etc/ops.yaml"
        try FileManager.default.copyItem(atPath: fixture.configPath, toPath: configPath)
        func opsctl(_ arguments: [String]) async throws -> CommandResult { try await run("opsctl", arguments + ["--config", configPath]) }
        let backup = try await opsctl(["backup"])
        #expect(backup.status == 0, "\(backup.stdout) \(backup.stderr)")

        try "name: changed\n".write(toFile: app, atomically: true, encoding: .utf8)
        try FileManager.default.removeItem(atPath: other)
        let config = try String(contentsOfFile: configPath, encoding: .utf8)

        let preview = try await opsctl(["restore", "--files", "--dry-run"])
        #expect(preview.status == 0, "\(preview.stderr)")
        #expect(preview.stdout.contains("--- \(app) (now)\n+++ \(app) (backup "), "\(preview.stdout)")
        #expect(preview.stdout.contains("-name: changed\n+name: demo\n"), "\(preview.stdout)")
        #expect(preview.stdout.contains("+port: 8080"), "\(preview.stdout)")
        #expect(preview.stdout.contains("dry run: would restore 2 of 2 file(s)"), "\(preview.stdout)")
        #expect(preview.stdout.contains("\(configPath): stored with its secrets masked, not restored"), "\(preview.stdout)")
        #expect(try String(contentsOfFile: app, encoding: .utf8) == "name: changed\n")
        #expect(!FileManager.default.fileExists(atPath: other))

        let restored = try await opsctl(["restore", "--files", "--json"])
        #expect(restored.status == 0, "\(restored.stderr)")
        let outcome = try WireJSON.decoder.decode(FileRestoreOutcome.self, from: Data(restored.stdout.utf8))
        #expect(try String(contentsOfFile: app, encoding: .utf8) == "name: demo\n")
        #expect(try String(contentsOfFile: other, encoding: .utf8) == "port: 8080\n")
        let aside = try #require(outcome.files.first { $0.path == app }?.safetyCopy)
        #expect(try String(contentsOfFile: aside, encoding: .utf8) == "name: changed\n")
        #expect(outcome.masked == [configPath])
        #expect(try String(contentsOfFile: configPath, encoding: .utf8) == config, "the masked config is never written back")

        let again = try await opsctl(["restore", "--files"])
        #expect(again.status == 0, "\(again.stderr)")
        #expect(again.stdout.contains("restored 0 of 2 file(s)"), "\(again.stdout)")

        // The safety copy beside app.yaml is inside backup.files, but the next backup leaves it out.
        let next = try await opsctl(["backup"])
        #expect(next.status == 0, "\(next.stdout) \(next.stderr)")
        let branch = try await fixture.git(["for-each-ref", "--format=%(refname)", "refs/heads/"])
        let stored = try await fixture.git(["ls-tree", "-r", "--name-only", branch.stdout.trimmingCharacters(in: .whitespacesAndNewlines)])
        #expect(stored.stdout.contains("etc/app.yaml") && !stored.stdout.contains("pre-restore"), "\(stored.stdout)")

        let elsewhere = fixture.directory + "/cfg"
        let to = try await opsctl(["restore", "--files", "--to", elsewhere])
        #expect(to.status == 0, "\(to.stderr)")
        #expect(try String(contentsOfFile: elsewhere + app, encoding: .utf8) == "name: demo\n")
        var info = stat()
        #expect(stat(elsewhere, &info) == 0 && info.st_mode & 0o7777 == 0o700)
        #expect(try String(contentsOfFile: app, encoding: .utf8) == "name: demo\n")
    }
}
