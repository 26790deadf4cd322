import Foundation
import OpsAPI
import Testing
import TestSupport

/// A worker that records, in `events.log` beside itself, when it started, became ready and was
/// asked to stop, with the time as the worker itself saw it.
private let recordingWorker = #"""
import os, signal, socket, sys, time
name, delay = sys.argv[1], float(sys.argv[2])
log = os.path.join(os.path.dirname(os.path.abspath(__file__)), "events.log")
def record(what):
    with open(log, "a") as f:
        f.write(f"{name} {what} {time.time():.6f}\n")
def stop(*_):
    record("stopping")
    sys.exit(0)
signal.signal(signal.SIGTERM, stop)
record("started")
time.sleep(delay)
if "NOTIFY_SOCKET" in os.environ:
    address = os.environ["NOTIFY_SOCKET"]
    address = "\0" + address[1:] if address.startswith("@") else address
    socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM).sendto(b"READY=1", address)
record("ready")
while True:
    time.sleep(1000)
"""#

/// The times each worker recorded, by "name what".
private func recorded(_ scratch: Scratch) -> [String: Double] {
    let text = (try? String(contentsOfFile: "\(scratch.path)/events.log", encoding: .utf8)) ?? ""
    var times: [String: Double] = [:]
    for line in text.split(separator: "\n") {
        let parts = line.split(separator: " ")
        if parts.count == 3, let time = Double(parts[2]) { times["\(parts[0]) \(parts[1])"] = time }
    }
    return times
}

@Suite("start order, planned restarts and counting (issue 16 items 3, 4 and 7)")
struct WorkerOrderTests {
    @Test("after: a worker starts once the worker it names is ready, and stops before it")
    func startAndStopOrder() async throws {
        let scratch = try Scratch()
        let script = try scratch.write("worker.py", recordingWorker)
        // web comes first in the file; db takes half a second to be ready.
        let config = try scratch.config(extra: """
            workers:
              - {name: web, command: [python3, \(script), web, "0"], notify: true, after: [db]}
              - {name: db, command: [python3, \(script), db, "0.5"], notify: true}
            """)
        let daemon = try await Daemon(config: config, scratch: scratch)
        // Ready once it has recorded its start.
        _ = try await daemon.logStream.first { $0.message == "worker is ready" && $0.fields["worker"] == "web" }
        daemon.signal(SIGTERM)
        #expect(await daemon.exitStatus() == 0)

        let times = recorded(scratch)
        let dbReady = try #require(times["db ready"], "\(times)")
        let webStarted = try #require(times["web started"], "\(times)")
        #expect(webStarted >= dbReady, "web started \(webStarted - dbReady) s before db was ready")
        let webStopping = try #require(times["web stopping"], "\(times)")
        let dbStopping = try #require(times["db stopping"], "\(times)")
        #expect(webStopping <= dbStopping, "db was asked to stop before web")
        #expect(daemon.log.contains("worker waits for the workers it starts after"))
    }

    @Test("after: a worker whose dependency has ended for good starts anyway, and says so")
    func dependencyThatNeverRuns() async throws {
        let scratch = try Scratch()
        let config = try scratch.config(extra: """
            workers:
              - {name: app, command: [sleep, "1000"], after: [broken], after_timeout: 10m}
              # Never ready: it fails while app waits for it.
              - {name: broken, command: [/bin/sh, -c, "sleep 0.3; exit 1"], notify: true, restart: {policy: never}}
            """)
        let daemon = try await Daemon(config: config, scratch: scratch)
        let warning = try await daemon.logStream.first { $0.message.hasPrefix("worker starts although") }
        #expect(warning.fields["worker"] == "app")
        #expect(warning.fields["after"] == "broken")
        _ = try await daemon.logStream.first { $0.message == "worker started" && $0.fields["worker"] == "app" }
        #expect(try await worker("app", config).state == .running)
    }

    @Test("max_lifetime restarts a run as planned; restarts counts neither that nor an operator's restart")
    func plannedAndOperatorRestarts() async throws {
        let scratch = try Scratch()
        let config = try scratch.config(extra: """
            workers:
              - {name: aging, command: [sleep, "1000"], max_lifetime: 1s, max_lifetime_jitter: 0s}
              - {name: steady, command: [sleep, "1000"]}
            """)
        let daemon = try await Daemon(config: config, scratch: scratch)
        let planned = try await daemon.logStream.first { $0.message.hasPrefix("worker reached its max_lifetime") }
        #expect(planned.fields["worker"] == "aging")
        _ = try await daemon.logStream.nth(2, where: started("aging"))

        let mark = daemon.logStream.count
        let restart = try await run("opsctl", ["workers", "restart", "steady", "--config", config])
        #expect(restart.status == 0, "\(restart.stderr)")
        _ = try await daemon.logStream.first(after: mark, where: started("steady"))

        let aging = try await worker("aging", config)
        #expect(aging.restarts == 0)
        #expect((aging.plannedRestarts ?? 0) >= 1)
        let steady = try await worker("steady", config)
        #expect(steady.restarts == 0)
        #expect(steady.operatorActions == 1)
        #expect(steady.plannedRestarts == 0)
        // The table shows them apart.
        let table = try await run("opsctl", ["status", "--config", config])
        #expect(table.stdout.contains("0 (1 by operator)"), "\(table.stdout)")
        // No worker_exited event: nothing failed.
        #expect(!daemon.log.contains("worker exited"))
    }
}
