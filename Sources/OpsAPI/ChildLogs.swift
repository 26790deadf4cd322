/// `GET /v1/workers/NAME/logs?lines=N` and `GET /v1/jobs/NAME/logs?lines=N`: a worker's or a
/// job's newest output, or where to read it; with `after=POSITION&wait=S`, the lines written
/// after `position` (a long poll: `opsctl logs -f`).
public struct ChildLogs: Codable, Sendable, Equatable {
    /// Where the output is.
    public enum Source: String, Codable, Sendable {
        /// In the journal under the child's name as identifier (`journalctl -t NAME`): opsd runs
        /// under journald and keeps no copy; `lines` is empty.
        case journal
        /// In opsd's memory: the newest lines, up to 64 KiB per child, since opsd started.
        case memory
    }

    /// The worker's or job's name.
    public var name: String
    /// `worker` or `job`.
    public var kind: String
    /// Where the output is.
    public var source: Source
    /// The newest lines, oldest first (memory only).
    public var lines: [String]
    /// Where in the output these lines end: the `after` of the next request that follows it
    /// (memory only).
    public var position: UInt64?

    /// Creates an answer.
    public init(name: String, kind: String, source: Source, lines: [String], position: UInt64? = nil) {
        self.name = name
        self.kind = kind
        self.source = source
        self.lines = lines
        self.position = position
    }
}
