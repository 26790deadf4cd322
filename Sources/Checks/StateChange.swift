/// A confirmed state change of one check: what alerts are sent about.
public struct StateChange: Sendable {
    /// The check's name.
    public var check: String
    /// Its kind (`disk`, `http`, …).
    public var kind: String
    /// The confirmed state before; nil when the check had no confirmed state yet.
    public var previous: CheckState?
    /// The new confirmed state.
    public var state: CheckState
    /// The result that confirmed it.
    public var result: CheckResult

    /// Creates a change.
    public init(check: String, kind: String, previous: CheckState?, state: CheckState, result: CheckResult) {
        self.check = check
        self.kind = kind
        self.previous = previous
        self.state = state
        self.result = result
    }
}
