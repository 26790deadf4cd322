/// Turns a stream of raw results into a confirmed state that changes only after enough
/// consecutive results agree: `failAfter` for a worse state, `recoverAfter` for a better one.
///
/// One noisy result (a GC pause, a lost packet) then neither pages anyone nor restarts anything.
/// Before the first confirmed state the check is *pending*; from there OK is confirmed at once
/// (nothing to alert about) and a bad state needs `failAfter` results like any other.
public struct Hysteresis: Sendable, Equatable {
    /// Results of a worse state needed to enter it.
    public let failAfter: Int
    /// Results of a better state needed to return to it.
    public let recoverAfter: Int
    /// The confirmed state; nil while pending.
    public private(set) var state: CheckState?
    private var candidate: CheckState?
    private var streak = 0

    /// Creates a pending state machine; `state` seeds it (e.g. from history after a restart).
    public init(failAfter: Int, recoverAfter: Int, state: CheckState? = nil) {
        self.failAfter = max(1, failAfter)
        self.recoverAfter = max(1, recoverAfter)
        self.state = state
    }

    /// A change of the confirmed state.
    public struct Transition: Sendable, Equatable {
        /// The confirmed state before; nil when the check was pending.
        public var previous: CheckState?
    }

    /// Feeds one result; returns the transition when this result changed the confirmed state.
    public mutating func record(_ raw: CheckState) -> Transition? {
        guard raw != state else {
            candidate = nil
            streak = 0
            return nil
        }
        if raw == candidate { streak += 1 } else {
            candidate = raw
            streak = 1
        }
        let needed: Int
        switch state {
        case nil: needed = raw == .ok ? 1 : failAfter
        case let current?: needed = raw < current ? recoverAfter : failAfter
        }
        guard streak >= needed else { return nil }
        let previous = state
        state = raw
        candidate = nil
        streak = 0
        return Transition(previous: previous)
    }
}
