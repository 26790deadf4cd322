import Backup
import CSpawn
import Foundation
import Logging
import OpsConfig
import StateStore
import TestSupport

/// A scratch directory with an application database, a config file and a backup repository,
/// removed when the test ends.
final class Fixture {
    let directory: String
    var database: String { directory + "/app.db" }
    var repository: String { directory + "/backup.git" }
    var remote: String { directory + "/remote.git" }
    var configPath: String { directory + "/ops.yaml" }
    var stateDirectory: String { directory + "/state" }

    init(journal: String = "wal", rows: Int = 20_000) throws {
        directory = NSTemporaryDirectory() + "opsd-backup-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: directory + "/etc", withIntermediateDirectories: true)
        try "name: demo\n".write(toFile: directory + "/etc/app.yaml", atomically: true, encoding: .utf8)
        try "not for git\n".write(toFile: directory + "/etc/app.key", atomically: true, encoding: .utf8)
        let db = try Database(path: database)
        try db.execute("PRAGMA journal_mode = \(journal); CREATE TABLE items (id INTEGER PRIMARY KEY, label TEXT NOT NULL, counter INTEGER NOT NULL)")
        // One statement, so SQLite's C code makes the rows: 20,000 inserts one by one took seconds
        // of a debug build's time on the cooperative pool, which every other test running beside
        // this one needed too.
        try db.run(
            "INSERT INTO items (label, counter) WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i + 1 < ?) SELECT 'item ' || i || ' ' || printf('%.60c', 'x'), 0 FROM n",
            rows
        )
        try writeConfig(remote: nil)
    }

    deinit { try? FileManager.default.removeItem(atPath: directory) }

    /// Writes ops.yaml; `remote` is the `remote:` block's lines (indented by the caller), if any.
    func writeConfig(remote: String?) throws {
        var yaml = """
            daemon:
              socket: \(directory)/opsd.sock
              state_dir: \(stateDirectory)
            backup:
              repository: \(repository)
              databases: [\(database)]
              files: [\(directory)/etc]
              exclude: ["*.key"]

            """
        if let remote { yaml += "  remote:\n" + remote }
        try yaml.write(toFile: configPath, atomically: true, encoding: .utf8)
    }

    func configuration() throws -> Configuration {
        try ConfigLoader.load(path: configPath)
    }

    /// A runner with fast push retries, so a test of a dead remote does not wait for backoff.
    func runner() throws -> BackupRunner {
        try BackupRunner(configuration: configuration(), logger: Logger(label: "test"), pushAttempts: 2, pushFirstDelay: .milliseconds(10))
    }

    /// Changes `fraction` of the rows at random, in one transaction.
    func churn(_ fraction: Double, seed: Int = 1) throws {
        let db = try Database(path: database)
        let count = Int(try db.scalar("SELECT count(*) FROM items").sqlValue.intValue)
        var generator = SeededGenerator(seed: UInt64(seed))
        try db.transaction {
            for _ in 0..<max(1, Int(Double(count) * fraction)) {
                try db.run("UPDATE items SET counter = counter + 1, label = label || 'y' WHERE id = ?", Int.random(in: 1...count, using: &generator))
            }
        }
    }

    /// Every row of the items table, in id order.
    func rows(_ path: String) throws -> [Row] {
        try Database(path: path, mode: .readOnly).query("SELECT id, label, counter FROM items ORDER BY id")
    }

    /// Makes `remote` a bare git repository and the config's `backup.remote.url` (a path remote).
    func usePathRemote() async throws {
        let created = try await run("/usr/bin/git", ["init", "--quiet", "--bare", remote])
        guard created.status == 0 else { throw TestFailure("git init --bare \(remote): \(created.stderr)") }
        try writeConfig(remote: "    url: \(remote)\n")
    }

    func sha256(_ path: String) async throws -> String {
        let result = try await run("/usr/bin/sha256sum", [path])
        return String(result.stdout.prefix(64))
    }

    func git(_ arguments: [String], in gitDirectory: String? = nil) async throws -> CommandResult {
        try await run("/usr/bin/git", ["--git-dir=\(gitDirectory ?? repository)"] + arguments)
    }

    func opsctl(_ arguments: [String], environment: [String: String] = [:]) async throws -> CommandResult {
        try await run("opsctl", arguments + ["--config", configPath], environment: environment)
    }
}

extension SQLValue {
    var intValue: Int64 {
        if case .integer(let v) = self { return v }
        return 0
    }
}

/// A small deterministic generator, so churn is the same on every run.
struct SeededGenerator: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed &+ 0x9E37_79B9_7F4A_7C15 }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// A process started in the background (a writer, sshd, a backup to kill), killed on `stop()`.
final class BackgroundProcess: Sendable {
    let pid: pid_t
    let output: String

    init(_ path: String, _ arguments: [String], environment: [String: String] = [:]) throws {
        var env = ProcessInfo.processInfo.environment
        env.removeValue(forKey: "OPS_CONFIG")
        for (key, value) in environment { env[key] = value }
        output = NSTemporaryDirectory() + "opsd-bg-\(UUID().uuidString.prefix(8)).log"
        let out = open(output, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        let null = open("/dev/null", O_RDONLY | O_CLOEXEC)
        defer { close(out); close(null) }
        pid = try spawn(path, arguments, environment: env, stdout: out, stderr: out, stdin: null)
    }

    /// SIGKILLs the process and reaps it; returns its wait status.
    @discardableResult
    func kill() -> Int32 {
        Glibc.kill(pid, SIGKILL)
        return reap()
    }

    /// Waits for the process to exit (blocking; for processes about to end).
    @discardableResult
    func reap() -> Int32 {
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        return status
    }

    var log: String { (try? String(contentsOfFile: output, encoding: .utf8)) ?? "" }

    deinit { unlink(output) }
}

/// Polls `condition` until it holds or `timeout` passes (for events nothing can be awaited on,
/// such as a file another process writes).
func waitUntil(timeout: Duration = .seconds(60), _ condition: () throws -> Bool) async throws -> Bool {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if try condition() { return true }
        try await Task.sleep(for: .milliseconds(20))
    }
    return try condition()
}
