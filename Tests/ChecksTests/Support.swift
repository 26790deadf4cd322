import CSpawn
import Foundation
import Testing
import TestSupport
import Logging
import Synchronization
import Checks
import OpsConfig
import ProcessControl

/// The fixtures beside these tests.
let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures").path

/// A scratch directory, removed by `remove()`.
struct Scratch {
    let path: String

    init() throws {
        var template = Array("/tmp/ops-checks-XXXXXX".utf8CString)
        guard mkdtemp(&template) != nil else { throw TestFailure("mkdtemp failed") }
        path = String(decoding: template.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    func file(_ name: String) -> String { "\(path)/\(name)" }

    @discardableResult
    func write(_ name: String, _ text: String) throws -> String {
        try text.write(toFile: file(name), atomically: true, encoding: .utf8)
        return file(name)
    }

    func remove() { try? FileManager.default.removeItem(atPath: path) }
}

/// A server process the test starts (bound to 127.0.0.1) and kills in `stop()`.
final class ServerProcess: @unchecked Sendable {
    let pid: Int32
    let outputPath: String

    /// Starts `arguments`, with stdout and stderr going to a file.
    init(_ arguments: [String], outputPath: String) throws {
        self.outputPath = outputPath
        let output = open(outputPath, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        let null = open("/dev/null", O_RDONLY | O_CLOEXEC)
        defer { close(output); close(null) }
        pid = try spawn(
            arguments[0], Array(arguments.dropFirst()), environment: ProcessInfo.processInfo.environment,
            stdout: output, stderr: output, stdin: null, deathSignal: SIGKILL
        )
    }

    var output: String { (try? String(contentsOfFile: outputPath, encoding: .utf8)) ?? "" }

    /// Kills the server's process group and reaps it.
    func stop() {
        kill(-pid, SIGKILL)
        var status: Int32 = 0
        waitpid(pid, &status, 0)
    }
}

/// The HTTP fixture server; `port` is read from its "PORT n" line.
final class FixtureServer: @unchecked Sendable {
    let process: ServerProcess
    let port: Int

    init(scratch: Scratch, extra: [String] = []) async throws {
        process = try ServerProcess(["/usr/bin/python3", "-u", "\(fixtures)/http_fixture.py"] + extra, outputPath: scratch.file("http-\(UUID().uuidString.prefix(6)).log"))
        let process = self.process
        do {
            let line = try await eventually("the fixture server prints its port") {
                process.output.split(separator: "\n").first { $0.hasPrefix("PORT ") }
            }
            port = Int(line.dropFirst(5)) ?? 0
        } catch {
            process.stop()  // the caller's defer is not registered yet
            throw error
        }
    }

    func url(_ path: String, scheme: String = "http") -> String { "\(scheme)://127.0.0.1:\(port)\(path)" }
    func stop() { process.stop() }
}


/// Spawns and waits for its own children only: this test process also runs tests whose
/// helpers wait for theirs, and a waitpid(-1) reaper would steal their exit statuses.
let spawner = DirectSpawner()
/// Check kinds' shared parts, as opsd makes them.
let environment = CheckEnvironment(spawner: spawner)

/// A spec of `kind` with thresholds, for tests.
/// The default timeout is long, so a loaded machine never turns an outcome into a timeout;
/// tests about timeouts pass their own.
func spec(_ name: String, _ kind: CheckKind, warn: String? = nil, crit: String? = nil, timeout: Duration = .seconds(60)) -> CheckSpec {
    CheckSpec(name: name, kind: kind, warn: warn.flatMap(Threshold.parse), crit: crit.flatMap(Threshold.parse), timeout: timeout)
}

/// Runs a check of `kind` once.
func runOnce(_ kind: CheckKind, warn: String? = nil, crit: String? = nil, timeout: Duration = .seconds(60)) async -> CheckResult {
    await environment.check(for: spec("test", kind, warn: warn, crit: crit, timeout: timeout)).run()
}

