public import FoundationEssentials
import Glibc

/// The outcome of one run of one check: what every output (table, health+json, Nagios line,
/// metrics, history, alerts) is made from.
public struct CheckResult: Sendable, Codable, Equatable {
    /// The state of this run alone, before hysteresis.
    public var state: CheckState
    /// One line for people; for UNKNOWN, the reason the check could not measure.
    public var message: String
    /// The primary value, if the kind has one.
    public var value: Double?
    /// Its unit: `percent`, `ms`, `items`, `s`.
    public var unit: String?
    /// Everything measured, as performance data.
    public var metrics: [PerfDatum]
    /// When the run started.
    public var time: Date
    /// How long it took, in seconds.
    public var durationSeconds: Double

    /// Creates a result.
    public init(
        state: CheckState, message: String, value: Double? = nil, unit: String? = nil, metrics: [PerfDatum] = [],
        time: Date, durationSeconds: Double
    ) {
        self.state = state
        self.message = message
        self.value = value
        self.unit = unit
        self.metrics = metrics
        self.time = time
        self.durationSeconds = durationSeconds
    }
}
