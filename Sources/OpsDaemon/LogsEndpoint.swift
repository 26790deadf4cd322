import ControlPlane
import OpsAPI
import ServiceLifecycle
public import Supervisor

/// The workers' and jobs' output for `opsctl logs`: under journald it says to read the journal
/// (opsd keeps no copy there); elsewhere it answers from the rings opsd fills as the children
/// write (`RecentOutput`), which cost nothing until a child writes and never wake opsd.
///
/// `after=POSITION&wait=S` is a long poll (`opsctl logs -f`): the answer comes as soon as a
/// complete line was written after `POSITION`, or after `S` seconds (0…60) with none. The write
/// wakes the request; a timer is armed only while a request waits, and opsd's shutdown ends the
/// wait at once.
public struct LogsEndpoint: Sendable {
    let workers: RecentOutput?
    let jobs: RecentOutput?
    let journal: Bool

    /// An endpoint over the workers' and the jobs' recent output; `journal` when opsd's children
    /// write to journald.
    public init(workers: RecentOutput?, jobs: RecentOutput?, journal: Bool) {
        self.workers = workers
        self.jobs = jobs
        self.journal = journal
    }

    /// The most lines one answer holds (64 KiB holds fewer of any real length).
    static let maximumLines = 10000
    /// The longest wait of one request.
    static let maximumWait = 60

    /// The answer for `name` of `kind` (`worker` or `job`), known to exist.
    func answer(name: String, kind: String, query: [String: String]) async -> ControlResponse {
        var count = 10
        if let text = query["lines"] {
            guard let lines = Int(text), lines >= 1 else { return .error("lines must be a whole number from 1, not \"\(text)\"", status: 400) }
            count = min(lines, Self.maximumLines)
        }
        var wait = 0
        if let text = query["wait"] {
            guard let seconds = Int(text), (0...Self.maximumWait).contains(seconds) else {
                return .error("wait=\(text) must be a whole number of seconds from 0 to \(Self.maximumWait)", status: 400)
            }
            wait = seconds
        }
        var after: UInt64?
        if let text = query["after"] {
            guard let position = UInt64(text) else { return .error("after=\(text) must be a position a previous answer gave", status: 400) }
            after = position
        }
        if journal { return .json(ChildLogs(name: name, kind: kind, source: .journal, lines: [])) }
        guard let rings = kind == "worker" ? workers : jobs else {
            return .json(ChildLogs(name: name, kind: kind, source: .memory, lines: [], position: 0))
        }
        guard let after else {
            let ring = rings.existingRing(for: name)
            return .json(ChildLogs(name: name, kind: kind, source: .memory, lines: ring?.lastLines(count) ?? [], position: ring?.totalBytes ?? 0))
        }
        let lines = await Self.follow(name, in: rings, after: after, wait: .seconds(wait))
        return .json(ChildLogs(name: name, kind: kind, source: .memory, lines: lines.lines, position: lines.position))
    }

    /// The complete lines of `name` after `position`, waiting up to `wait` for one.
    static func follow(_ name: String, in rings: RecentOutput, after position: UInt64, wait: Duration) async -> (lines: [String], position: UInt64) {
        let ring = rings.ring(for: name)
        var read = ring.lines(after: position)
        let deadline = ContinuousClock.now + wait
        while read.lines.isEmpty, case let remaining = deadline - ContinuousClock.now, remaining > .zero {
            let total = read.total
            await withTaskGroup(of: Void.self) { group in
                group.addTask { await cancelWhenGracefulShutdown { await ring.wait(beyond: total) } }
                group.addTask { try? await Task.sleep(for: remaining, clock: .loop) }
                await group.next()
                group.cancelAll()
            }
            // Nothing written: the time is up, or opsd is stopping (which ended the wait).
            if ring.totalBytes == total { break }
            read = ring.lines(after: read.position)
        }
        return (read.lines, read.position)
    }
}
