import Foundation
import OpsAPI
import Synchronization
import Testing
import TestSupport

/// The lines a running program writes to stdout, read as they come, so a test awaits the line it
/// expects instead of sleeping.
final class LineReader: Sendable {
    private struct State {
        var lines: [String] = []
        var ended = false
        var waiter: CheckedContinuation<Void, Never>?
    }

    private let state = Mutex(State())

    init(_ handle: FileHandle) {
        let thread = Thread { [self] in
            var pending = Data()
            while true {
                let chunk = handle.availableData
                if chunk.isEmpty { break }
                pending.append(chunk)
                while let newline = pending.firstIndex(of: UInt8(ascii: "\n")) {
                    let line = String(decoding: pending[pending.startIndex..<newline], as: UTF8.self)
                    pending.removeSubrange(pending.startIndex...newline)
                    wake { $0.lines.append(line) }
                }
            }
            wake { $0.ended = true }
        }
        thread.start()
    }

    private func wake(_ change: (inout State) -> Void) {
        let waiter = state.withLock { state in
            change(&state)
            defer { state.waiter = nil }
            return state.waiter
        }
        waiter?.resume()
    }

    var lines: [String] { state.withLock { $0.lines } }

    /// The first line that satisfies `predicate`; fails when the output ends without one, or after
    /// `limit` (a safety net, not a synchronisation).
    func first(limit: Duration = .seconds(60), where predicate: @escaping @Sendable (String) -> Bool) async throws -> String {
        let deadline = ContinuousClock.now + limit
        let safetyNet = Task {
            try? await Task.sleep(until: deadline)
            wake { _ in }
        }
        defer { safetyNet.cancel() }
        while true {
            let (match, ended) = state.withLock { ($0.lines.first(where: predicate), $0.ended) }
            if let match { return match }
            if ended { throw TestFailure("the output ended without the expected line: \(lines)") }
            if ContinuousClock.now >= deadline { throw TestFailure("no expected line within \(limit): \(lines)") }
            await withCheckedContinuation { continuation in
                let ready = state.withLock { state -> Bool in
                    if state.ended || state.lines.contains(where: predicate) { return true }
                    state.waiter = continuation
                    return false
                }
                if ready { continuation.resume() }
            }
        }
    }
}

private func records(_ jsonLines: String) throws -> [EventRecord] {
    try jsonLines.split(separator: "\n").map { try WireJSON.decoder.decode(EventRecord.self, from: Data($0.utf8)) }
}

private func kind(_ kind: String) -> @Sendable (String) -> Bool {
    { line in (try? WireJSON.decoder.decode(EventRecord.self, from: Data(line.utf8)))?.kind == kind }
}

@Suite("opsd's events: the journal, the history and opsctl events, with a real opsd", .timeLimit(.minutes(3)))
struct EventStreamTests {
    @Test("a crashing worker's worker_exited is in the history, -f prints an event that comes after it started, and the history outlives opsd")
    func historyFollowAndOffline() async throws {
        let scratch = try Scratch()
        let config = try scratch.config(extra: """
            workers:
              - {name: crasher, command: [/bin/sh, -c, "exit 3"], restart: {backoff: 5s..60s}}
            """)
        let daemon = try await Daemon(config: config, scratch: scratch)
        // The journal's consumer: one entry per event, its kind in the `event` field (OPS_EVENT under journald).
        let entry = try await daemon.logStream.first { $0.fields["event"] == "worker_exited" }
        #expect(entry.fields["worker"] == "crasher")
        #expect(entry.fields["severity"] == "warning")

        // Follow from before the event it must print.
        let follower = Process()
        follower.executableURL = URL(fileURLWithPath: "\(binDirectory)/opsctl")
        follower.arguments = ["events", "-f", "--json", "--config", config]
        let output = Pipe()
        follower.standardOutput = output
        follower.standardError = FileHandle.nullDevice
        try follower.run()
        defer { if follower.isRunning { kill(follower.processIdentifier, SIGKILL) } }
        try? output.fileHandleForWriting.close()
        let followed = LineReader(output.fileHandleForReading)
        // The history first: the crash is there (stored before or while -f started).
        _ = try await followed.first(where: kind("worker_exited"))

        let listed = try await run("opsctl", ["events", "--json", "--config", config])
        #expect(listed.status == 0, "\(listed.stderr)")
        let history = try records(listed.stdout)
        #expect(history.contains { $0.kind == "opsd_started" && $0.subjectKind == "daemon" })
        let exited = try #require(history.first { $0.kind == "worker_exited" })
        #expect(exited.subject == "crasher" && exited.severity == "warning")
        #expect(history.map(\.id) == history.map(\.id).sorted())

        // An event that happens only now, while -f waits: a reload of a file with a problem.
        _ = try scratch.config(extra: "workers: 7")
        let reload = try await run("opsctl", ["reload", "--config", config])
        #expect(reload.status == 1)
        let rejected = try await followed.first(where: kind("reload_rejected"))
        let record = try WireJSON.decoder.decode(EventRecord.self, from: Data(rejected.utf8))
        #expect(record.id > exited.id)
        #expect(record.fields["problems"] == "1")

        // opsd stops: the follower is let go, and opsd_stopping is stored before opsd exits.
        daemon.signal(SIGTERM)
        #expect(await daemon.exitStatus() == 0)
        let followerStatus: Int32 = await onNewThread {
            follower.waitUntilExit()
            return follower.terminationStatus
        }
        #expect(followerStatus == 0)

        // With opsd stopped, opsctl answers alone from the state database.
        let alone = try await run("opsctl", ["events", "--json", "--config", config])
        #expect(alone.status == 0, "\(alone.stderr)")
        let kinds = try records(alone.stdout).map(\.kind)
        // The first crash may come before opsd_started (READY waits for the workers' launch):
        // kept all the same, the consumers subscribed before any worker started.
        #expect(kinds.contains("opsd_started") && kinds.contains("worker_exited") && kinds.contains("reload_rejected"))
        #expect(kinds.last == "opsd_stopping")
        #expect(alone.stderr.contains("opsd is not running"))
        let table = try await run("opsctl", ["events", "--config", config])
        #expect(table.status == 0)
        #expect(table.stdout.contains("worker_exited") && table.stdout.contains("worker crasher"))
        let follow = try await run("opsctl", ["events", "-f", "--config", config])
        #expect(follow.status == 3)
        #expect(follow.stderr.contains("following new events needs it"))
    }

    @Test("a --since that is neither a time nor a duration is refused with what to write")
    func badSince() async throws {
        let scratch = try Scratch()
        let config = try scratch.config()
        let result = try await run("opsctl", ["events", "--since", "yesterday", "--config", config])
        #expect(result.status == 1)
        #expect(result.stderr.contains("--since yesterday is neither a time nor a duration; write e.g."))
    }
}
