import Foundation
import Testing
import TestSupport

/// `--version` of the three programs: the version, the commit (stamped after linking), and the
/// SQLite, libgit2 and systemd the run really uses (issue 17 item 3).
@Suite("--version names the commit and the runtime libraries")
struct VersionTests {
    /// SQLite's version as the sqlite3 shell, linked to the same libsqlite3, reports it.
    static func systemSQLite() async throws -> String {
        let shell = try await run("/usr/bin/sqlite3", ["--version"])
        return try #require(shell.stdout.split(separator: " ").first.map(String.init), "\(shell.stderr)")
    }

    @Test("each program prints version and commit, the real SQLite, libgit2 (from the companion) and systemd's state", arguments: ["opsd", "opsctl", "opsctl-backup"])
    func format(program: String) async throws {
        let result = try await run(program, ["--version"])
        #expect(result.status == 0, "\(result.stderr)")
        let lines = result.stdout.split(separator: "\n").map(String.init)
        try #require(lines.count == 4, "\(result.stdout)")
        // An unstamped debug build says so rather than naming a commit it may not be.
        #expect(lines[0] == "\(program) 0.1.0, commit unknown (debug build)", "\(lines[0])")
        #expect(lines[1] == "SQLite \(try await Self.systemSQLite())")
        #expect(lines[2].range(of: #"^libgit2 \d+\.\d+\.\d+"#, options: .regularExpression) != nil, "\(lines[2])")
        if program != "opsctl-backup" { #expect(lines[2].hasSuffix(" (in opsctl-backup)"), "\(lines[2])") }
        // This test host's PID 1 is not systemd (the systemd suite runs in a container).
        let underSystemd = FileManager.default.fileExists(atPath: "/run/systemd/system")
        #expect(underSystemd ? lines[3].hasSuffix("(the running manager)") : lines[3] == "systemd none (not running under systemd)", "\(lines[3])")
    }

    @Test("opsctl prints the whole report wherever --version stands among its own options")
    func versionBesideOptions() async throws {
        let plain = try await run("opsctl", ["--version"])
        for arguments in [["--config", "/nonexistent/ops.yaml", "--version"], ["status", "--version"], ["--socket", "/tmp/x.sock", "--version"]] {
            let result = try await run("opsctl", arguments)
            #expect(result.status == 0 && result.stdout == plain.stdout, "\(arguments): \(result.stdout)")
        }
        // After `--`, or in the companion's arguments, --version is not opsctl's.
        let companion = try await run("opsctl", ["backup", "--version"])
        #expect(companion.stdout != plain.stdout)
    }

    @Test("scripts/stamp-commit.sh writes the commit into a copy of the binary after linking, and --version reads it")
    func stampedCommit() async throws {
        let scratch = NSTemporaryDirectory() + "stamp-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: scratch, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: scratch) }
        // The companion beside it, as installed: opsctl asks it for libgit2's version.
        for program in ["opsctl", "opsctl-backup"] {
            try FileManager.default.copyItem(atPath: "\(binDirectory)/\(program)", toPath: "\(scratch)/\(program)")
        }
        let stamp = try await run("\(repositoryRoot)/scripts/stamp-commit.sh", ["--commit", "0123456789ab", "\(scratch)/opsctl"])
        #expect(stamp.status == 0, "\(stamp.stderr)")
        let result = try await run("\(scratch)/opsctl", ["--version"])
        #expect(result.stdout.hasPrefix("opsctl 0.1.0, commit 0123456789ab\n"), "\(result.stdout)")
        #expect(result.stdout.contains("libgit2 "), "\(result.stdout)")
        // A file without the marker is refused, not silently left as it was.
        try Data("no marker".utf8).write(to: URL(fileURLWithPath: "\(scratch)/other"))
        let refused = try await run("\(repositoryRoot)/scripts/stamp-commit.sh", ["--commit", "abc", "\(scratch)/other"])
        #expect(refused.status != 0 && refused.stderr.contains("holds the marker not once"), "\(refused.stderr)")
    }
}
