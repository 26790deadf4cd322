import ControlPlane
import OpsAPI
public import Supervisor

/// The workers' and jobs' output for `opsctl logs`: under journald it says to read the journal
/// (opsd keeps no copy there); elsewhere it answers from the rings opsd fills as the children
/// write (`RecentOutput`), which cost nothing until a child writes and never wake opsd.
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

    /// The answer for `name` of `kind` (`worker` or `job`), known to exist.
    func answer(name: String, kind: String, query: [String: String]) -> ControlResponse {
        var count = 10
        if let text = query["lines"] {
            guard let lines = Int(text), lines >= 1 else { return .error("lines must be a whole number from 1, not \"\(text)\"", status: 400) }
            count = min(lines, Self.maximumLines)
        }
        if journal { return .json(ChildLogs(name: name, kind: kind, source: .journal, lines: [])) }
        let rings = kind == "worker" ? workers : jobs
        let lines = rings?.existingRing(for: name)?.lastLines(count) ?? []
        return .json(ChildLogs(name: name, kind: kind, source: .memory, lines: lines))
    }
}
