public import FoundationEssentials

/// A check's state on the wire: its confirmed state (after hysteresis), or `pending` before it
/// has one. The result of a single run is never `pending`.
public enum CheckLevel: String, Codable, Sendable, CaseIterable {
    /// Not run yet, or not confirmed yet.
    case pending
    /// Within its thresholds.
    case ok
    /// Beyond its warning range.
    case warn
    /// Beyond its critical range.
    case crit
    /// It could not measure.
    case unknown
}

/// One check in `StatusReport`.
public struct CheckStatus: Codable, Sendable, Equatable {
    /// The check's name.
    public var name: String
    /// disk, memory, sqlite, queue, http or command.
    public var kind: String
    /// The confirmed state.
    public var state: CheckLevel
    /// How often it runs, in seconds.
    public var everySeconds: Double
    /// The latest run's message, once it has run.
    public var message: String?
    /// When it last ran.
    public var lastRun: Date?

    /// Creates a check status.
    public init(name: String, kind: String, state: CheckLevel, everySeconds: Double, message: String? = nil, lastRun: Date? = nil) {
        self.name = name
        self.kind = kind
        self.state = state
        self.everySeconds = everySeconds
        self.message = message
        self.lastRun = lastRun
    }
}
