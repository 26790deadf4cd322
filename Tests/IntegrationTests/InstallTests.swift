import Foundation
import Testing
import TestSupport

@Suite("make install / make uninstall")
struct InstallTests {
    private func make(_ arguments: [String]) async throws -> CommandResult {
        try await run("/usr/bin/make", ["-C", repositoryRoot, "--no-print-directory"] + arguments)
    }

    private func mode(_ path: String) -> Int? {
        (try? FileManager.default.attributesOfItem(atPath: path))?[.posixPermissions] as? Int
    }

    @Test("installs into DESTDIR with the right modes, the starter config and the reference beside the docs, follows PREFIX, keeps an edited config, and uninstalls cleanly")
    func installAndUninstall() async throws {
        let scratch = try Scratch()
        let root = "\(scratch.path)/root"
        let first = try await make(["install", "DESTDIR=\(root)", "BUILD_DIR=\(binDirectory)"])
        #expect(first.status == 0, "\(first.stderr)")
        for program in ["opsd", "opsctl", "opsctl-backup"] { #expect(mode("\(root)/usr/local/bin/\(program)") == 0o755) }
        for unit in ["opsd.service", "opsd-backup.service", "opsd-backup.timer"] { #expect(mode("\(root)/etc/systemd/system/\(unit)") == 0o644) }
        // cron skips files in cron.d that are group- or world-writable.
        #expect(mode("\(root)/etc/cron.d/ops") == 0o644)
        #expect(mode("\(root)/etc/ops") == 0o750 && mode("\(root)/var/lib/ops") == 0o750)
        let installedConfig = "\(root)/etc/ops/ops.yaml"
        // The starter, not the reference: a first start must be green (StarterConfigTests).
        #expect(try String(contentsOfFile: installedConfig, encoding: .utf8) == String(contentsOfFile: "\(repositoryRoot)/deploy/ops.yaml", encoding: .utf8))
        let reference = "\(root)/usr/local/share/doc/opsd/examples/ops.yaml"
        #expect(try String(contentsOfFile: reference, encoding: .utf8) == String(contentsOfFile: "\(repositoryRoot)/examples/ops.yaml", encoding: .utf8))
        #expect(mode(reference) == 0o644)

        // An operator edits the config; a second install under another PREFIX must not touch it.
        let edited = try String(contentsOfFile: installedConfig, encoding: .utf8) + "# edited by the operator\n"
        try edited.write(toFile: installedConfig, atomically: true, encoding: .utf8)
        let second = try await make(["install", "DESTDIR=\(root)", "BUILD_DIR=\(binDirectory)", "PREFIX=/opt/ops"])
        #expect(second.status == 0)
        #expect(second.stderr.contains("kept your \(installedConfig); the shipped starter is beside it as ops.yaml.dist"))
        #expect(try String(contentsOfFile: installedConfig, encoding: .utf8) == edited)
        #expect(FileManager.default.fileExists(atPath: "\(installedConfig).dist"))
        let unit = try String(contentsOfFile: "\(root)/etc/systemd/system/opsd.service", encoding: .utf8)
        #expect(unit.contains("ExecStart=/opt/ops/bin/opsd --config /etc/ops/ops.yaml"))
        #expect(FileManager.default.fileExists(atPath: "\(root)/opt/ops/share/doc/opsd/examples/ops.yaml"))
        #expect(try String(contentsOfFile: "\(root)/etc/cron.d/ops", encoding: .utf8).contains("PATH=/opt/ops/bin:"))

        let removed = try await make(["uninstall", "DESTDIR=\(root)", "PREFIX=/opt/ops"])
        #expect(removed.status == 0)
        #expect(!FileManager.default.fileExists(atPath: "\(root)/opt/ops/bin/opsd"))
        #expect(!FileManager.default.fileExists(atPath: "\(root)/opt/ops/bin/opsctl-backup"))
        #expect(!FileManager.default.fileExists(atPath: "\(root)/etc/systemd/system/opsd.service"))
        #expect(!FileManager.default.fileExists(atPath: "\(root)/etc/cron.d/ops"))
        #expect(!FileManager.default.fileExists(atPath: "\(root)/opt/ops/share/doc/opsd"))
        #expect(try String(contentsOfFile: installedConfig, encoding: .utf8) == edited)
    }

    @Test("missing binaries are a clear error, not a half install")
    func missingBinaries() async throws {
        let scratch = try Scratch()
        let result = try await make(["install", "DESTDIR=\(scratch.path)/root", "BUILD_DIR=\(scratch.path)/nothing"])
        #expect(result.status != 0)
        #expect(result.stderr.contains("install: \(scratch.path)/nothing/opsd is missing; build it first or unset BUILD_DIR"))
        #expect(!FileManager.default.fileExists(atPath: "\(scratch.path)/root/etc/systemd/system/opsd.service"))
    }
}
