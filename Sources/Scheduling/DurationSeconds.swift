// The one conversion of a `Duration` to a number of seconds: what `Date` arithmetic, JSON and
// metrics take. Lives with the schedule language, the lowest module that every user can import.

extension Duration {
    /// The duration in seconds, fractions included (`.milliseconds(1500)` is 1.5).
    public var seconds: Double {
        Double(components.seconds) + Double(components.attoseconds) / 1e18
    }
}
