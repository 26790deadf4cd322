import Foundation
import Logging
import OpsConfig
import OpsDaemon
import Synchronization
import Systemd
import Testing
import TestSupport

/// A configuration file in a private temporary directory, rewritten by the tests.
private final class ConfigFile: Sendable {
    let directory: String
    var path: String { directory + "/ops.yaml" }

    init() throws {
        var template = Array("/tmp/ops-daemon-XXXXXX".utf8CString)
        guard let directory = mkdtemp(&template).map({ String(cString: $0) }) else { throw TestFailure("mkdtemp failed: \(String(cString: strerror(errno)))") }
        self.directory = directory
    }

    deinit { try? FileManager.default.removeItem(atPath: directory) }

    /// Writes the file: the daemon section, then `rest`.
    func write(socket: String = "opsd.sock", _ rest: String = "") throws {
        try "daemon:\n  socket: \(directory)/\(socket)\n  state_dir: \(directory)/state\n\(rest)".write(toFile: path, atomically: true, encoding: .utf8)
    }

    /// The file as opsd would load it at start.
    func load() throws -> Configuration {
        try ConfigLoader.load(path: path)
    }
}

private let web = "workers:\n  - {name: web, command: [/bin/sleep, '1000']}\n"

/// opsd's reload, in process: `DaemonState` decides, `Reloader` hands an accepted configuration
/// on. What systemd hears (RELOADING=1, READY=1) is tested against a real opsd (DaemonTests).
@Suite("reload in process")
struct ReloadTests {
    @Test("a valid file is applied: the changed sections are named, the new configuration is in force, the reload is counted")
    func applied() async throws {
        let file = try ConfigFile()
        try file.write(web)
        let state = DaemonState(configuration: try file.load(), configPath: file.path, logger: Logger(label: "test"))
        try file.write(web + "  - {name: queue, command: [/bin/sleep, '1000']}\n")

        #expect(await state.reload() == .applied(changedSections: ["workers"], needsRestart: []))
        #expect(await state.configuration.workers.map(\.name) == ["web", "queue"])
        let snapshot = await state.snapshot()
        #expect(snapshot.reloads == 1)
        #expect(snapshot.lastReloadErrors == nil)

        // The same file again: applied, nothing changed.
        #expect(await state.reload() == .applied(changedSections: [], needsRestart: []))
    }

    @Test("a file with problems is rejected whole: the previous configuration stays, the problems are kept for status")
    func rejected() async throws {
        let file = try ConfigFile()
        try file.write(web)
        let state = DaemonState(configuration: try file.load(), configPath: file.path, logger: Logger(label: "test"))
        try file.write("workers:\n  - {name: web, command: [/bin/sleep, '1000'], restart: sometimes}\n  - {name: queue, command: [/bin/true]}\n")

        guard case .rejected(let problems) = await state.reload() else {
            Issue.record("a file with an invalid restart: value was applied")
            return
        }
        #expect(problems.count == 1)
        #expect(problems.first?.contains("workers[0].restart") == true, "\(problems)")
        #expect(await state.configuration.workers.map(\.name) == ["web"])
        #expect(await state.snapshot().lastReloadErrors == problems)
        #expect(await state.snapshot().reloads == 0)
        #expect(await state.summaryContext().contains("last reload rejected (1 problem; previous config in force)"))

        // A good file afterwards clears the rejection.
        try file.write(web)
        #expect(await state.reload().isApplied)
        #expect(await state.snapshot().lastReloadErrors == nil)
    }

    @Test("a moved socket is reported as needing a restart, and the socket in force stays where it is bound")
    func socketNeedsRestart() async throws {
        let file = try ConfigFile()
        try file.write()
        let state = DaemonState(configuration: try file.load(), configPath: file.path, logger: Logger(label: "test"))
        try file.write(socket: "elsewhere.sock")

        #expect(await state.reload() == .applied(changedSections: ["daemon"], needsRestart: ["daemon.socket"]))
        #expect(await state.configuration.daemon.socket == file.directory + "/opsd.sock")
    }

    @Test("a changed job is among the changed sections")
    func jobsReported() async throws {
        let file = try ConfigFile()
        try file.write("jobs:\n  - {name: report, every: 1h, command: [/bin/true]}\n")
        let state = DaemonState(configuration: try file.load(), configPath: file.path, logger: Logger(label: "test"))
        try file.write("jobs:\n  - {name: report, every: 2h, command: [/bin/true]}\n")
        #expect(await state.reload() == .applied(changedSections: ["jobs"], needsRestart: []))
        #expect(await state.configuration.jobs.first?.trigger.description == "every 2h")
    }

    @Test("a changed daemon.listen is reported as needing a restart, and the address in force stays the one bound")
    func listenNeedsRestart() async throws {
        let file = try ConfigFile()
        try file.write("  listen: 127.0.0.1:9110\n")
        let state = DaemonState(configuration: try file.load(), configPath: file.path, logger: Logger(label: "test"))
        try file.write("  listen: 127.0.0.1:9111\n")

        #expect(await state.reload() == .applied(changedSections: ["daemon"], needsRestart: ["daemon.listen"]))
        #expect(await state.configuration.daemon.listen == ListenAddress(host: "127.0.0.1", port: 9110))
        // Until a restart binds it, every reload says so again.
        #expect(await state.reload() == .applied(changedSections: ["daemon"], needsRestart: ["daemon.listen"]))

        // Taking the listener away needs a restart too; putting the bound address back needs none.
        try file.write()
        #expect(await state.reload() == .applied(changedSections: ["daemon"], needsRestart: ["daemon.listen"]))
        try file.write("  listen: 127.0.0.1:9110\n")
        #expect(await state.reload() == .applied(changedSections: [], needsRestart: []))
    }

    @Test("the reloader hands an applied configuration to the services, and a rejected one to nobody")
    func reloaderApplies() async throws {
        let file = try ConfigFile()
        try file.write(web)
        let state = DaemonState(configuration: try file.load(), configPath: file.path, logger: Logger(label: "test"))
        let applied = Mutex<[[String]]>([])
        let summaries = Mutex(0)
        let reloader = Reloader(
            state: state, apply: { configuration in applied.withLock { $0.append(configuration.workers.map(\.name)) } },
            summary: { summaries.withLock { $0 += 1 }; return "1 worker" }, notifier: SystemdNotifier(environment: [:]), logger: Logger(label: "test")
        )

        try file.write("workers: [")
        #expect(await !reloader.reload(trigger: "test").isApplied)
        #expect(applied.withLock { $0 }.isEmpty)

        try file.write(web + "  - {name: queue, command: [/bin/sleep, '1000']}\n")
        #expect(await reloader.reload(trigger: "test").isApplied)
        #expect(applied.withLock { $0 } == [["web", "queue"]])
        // READY=1 follows every reload, accepted or not, with a fresh status line.
        #expect(summaries.withLock { $0 } == 2)
    }
}
