/// What one run of a check saw, before thresholds turn it into a state.
///
/// Each kind reports one *primary* value (the one `warn`/`crit` apply to), a line of text for
/// people, and any number of metrics. A kind whose measurement itself implies a state (a plugin's
/// exit code, a failed `quick_check`, an unexpected HTTP status) sets `state`; thresholds can then
/// only make it worse, never better.
public struct Observation: Sendable {
    /// The value thresholds apply to, if the kind has one.
    public var value: Double?
    /// The unit of `value`, in health+json's words: `percent`, `ms`, `items`, `s`.
    public var unit: String?
    /// One line for people: `/ 42.1% used (12.3 GiB free), inodes 3.0%`.
    public var summary: String
    /// Everything measured, as Nagios performance data.
    public var metrics: [PerfDatum]
    /// The state the measurement implies by itself, if any.
    public var state: CheckState?

    /// Creates an observation.
    public init(value: Double? = nil, unit: String? = nil, summary: String, metrics: [PerfDatum] = [], state: CheckState? = nil) {
        self.value = value
        self.unit = unit
        self.summary = summary
        self.metrics = metrics
        self.state = state
    }
}

/// Why a check could not measure at all; the result is UNKNOWN with this as its message.
public struct CheckFailure: Error, CustomStringConvertible, Sendable {
    /// One sentence: what failed, and what to look at.
    public let description: String

    /// Creates a failure.
    public init(_ description: String) {
        self.description = description
    }
}
