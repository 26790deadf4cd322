import Alerts
import OpsConfig
import Foundation
import Logging
import ProcessControl
import Synchronization
import Testing
import TestSupport

/// The fixtures beside these tests.
let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures").path

/// A temporary directory of one test, removed by `remove()`.
struct TemporaryDirectory {
    let path: String

    init() throws {
        var template = Array("/tmp/ops-alerts-XXXXXX".utf8CString)
        guard mkdtemp(&template) != nil else { throw TestFailure("mkdtemp failed") }
        path = String(decoding: template.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    func file(_ name: String) -> String { "\(path)/\(name)" }
    func remove() { try? FileManager.default.removeItem(atPath: path) }
}

/// One POST the receiver recorded.
struct Received: @unchecked Sendable {
    let path: String
    let status: Int
    let body: Any
    var json: [String: Any] { body as? [String: Any] ?? [:] }
}

/// The webhook receiver (Fixtures/receiver.py) on 127.0.0.1, started by the test and killed by
/// `stop()`, by its pid.
final class Receiver: Sendable {
    let pid: Int32
    let port: Int
    private let record: String

    init(in directory: TemporaryDirectory) async throws {
        record = directory.file("received-\(UUID().uuidString.prefix(6)).jsonl")
        let log = directory.file("receiver-\(UUID().uuidString.prefix(6)).log")
        let output = open(log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        let null = open("/dev/null", O_RDONLY | O_CLOEXEC)
        defer { close(output); close(null) }
        let pid = try spawn(
            "/usr/bin/python3", ["-u", "\(fixtures)/receiver.py", "--record", record], environment: ProcessInfo.processInfo.environment,
            stdout: output, stderr: output, stdin: null, deathSignal: SIGKILL
        )
        self.pid = pid
        do {
            let line = try await eventually("the receiver prints its port") {
                ((try? String(contentsOfFile: log, encoding: .utf8)) ?? "").split(separator: "\n").first { $0.hasPrefix("PORT ") }
            }
            port = Int(line.dropFirst(5)) ?? 0
        } catch {
            kill(-pid, SIGKILL)
            var status: Int32 = 0
            waitpid(pid, &status, 0)
            throw error
        }
    }

    func url(_ path: String) -> String { "http://127.0.0.1:\(port)\(path)" }

    /// Everything recorded so far, in arrival order.
    var received: [Received] {
        let text = (try? String(contentsOfFile: record, encoding: .utf8)) ?? ""
        return text.split(separator: "\n").compactMap { line in
            guard let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] else { return nil }
            return Received(path: object["path"] as? String ?? "", status: object["status"] as? Int ?? 0, body: object["body"] ?? NSNull())
        }
    }

    /// What arrived at `path`.
    func received(at path: String) -> [Received] { received.filter { $0.path == path } }

    /// Waits until `count` requests arrived at `path`, and returns them.
    @discardableResult
    func await(_ count: Int, at path: String) async throws -> [Received] {
        try await eventually("\(count) requests arrived at \(path)") {
            let got = received(at: path)
            return got.count >= count ? got : nil
        }
    }

    func stop() {
        kill(-pid, SIGKILL)
        var status: Int32 = 0
        waitpid(pid, &status, 0)
    }
}


/// Senders as opsd makes them, with a DirectSpawner (tests never own a reaper of every child)
/// and short retry waits.
let senders = AlertSenders(commands: CommandRunner(spawner: DirectSpawner()), retryDelays: [.milliseconds(10)])


/// A router over `routes`, delivering until the returned task is cancelled.
func startRouter(
    _ routes: [AlertSpec], counters: AlertCounters = AlertCounters(), logger: Logger = Logger(label: "test"), queueCapacity: Int = 100,
    senders: AlertSenders = senders
) -> (AlertRouter, Task<Void, Never>) {
    let router = AlertRouter(routes: routes, senders: senders, counters: counters, logger: logger, hostname: "testhost", queueCapacity: queueCapacity)
    return (router, Task { await router.run() })
}
