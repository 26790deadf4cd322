public import FoundationEssentials

/// `GET /v1/health`: one check with its confirmed state and its latest run, what `opsctl health`
/// renders (as a table, application/health+json or a Nagios line).
public struct CheckHealth: Codable, Sendable, Equatable {
    /// The check's name.
    public var name: String
    /// disk, memory, sqlite, queue, http or command.
    public var kind: String
    /// The confirmed state (after hysteresis); `pending` before there is one.
    public var state: CheckLevel
    /// Since when the confirmed state holds, if known.
    public var since: Date?
    /// The latest run; nil before the first.
    public var latest: CheckRun?
    /// How often it runs, in seconds.
    public var everySeconds: Double
    /// The warning range, as written.
    public var warn: String?
    /// The critical range, as written.
    public var crit: String?

    /// Creates a check's health.
    public init(
        name: String, kind: String, state: CheckLevel, since: Date?, latest: CheckRun?, everySeconds: Double, warn: String?, crit: String?
    ) {
        self.name = name
        self.kind = kind
        self.state = state
        self.since = since
        self.latest = latest
        self.everySeconds = everySeconds
        self.warn = warn
        self.crit = crit
    }
}

/// One run of one check.
public struct CheckRun: Codable, Sendable, Equatable {
    /// The state of this run alone, before hysteresis.
    public var state: CheckLevel
    /// One line for people; for `unknown`, why the check could not measure.
    public var message: String
    /// The primary value, if the kind has one.
    public var value: Double?
    /// Its unit: `percent`, `ms`, `items`, `s`.
    public var unit: String?
    /// Everything measured, as Nagios performance data.
    public var metrics: [CheckMetric]
    /// When the run started.
    public var time: Date
    /// How long it took, in seconds.
    public var durationSeconds: Double

    /// Creates a run.
    public init(state: CheckLevel, message: String, value: Double?, unit: String?, metrics: [CheckMetric], time: Date, durationSeconds: Double) {
        self.state = state
        self.message = message
        self.value = value
        self.unit = unit
        self.metrics = metrics
        self.time = time
        self.durationSeconds = durationSeconds
    }
}

/// One measured value of a check run: a Nagios performance datum.
public struct CheckMetric: Codable, Sendable, Equatable {
    /// The label, e.g. `/` or `time`.
    public var label: String
    /// The measured value.
    public var value: Double
    /// The unit of measurement: "", `s`, `ms`, `us`, `%`, `B`, `KB`, `MB`, `TB`, `c`.
    public var unit: String
    /// The warning range, as written.
    public var warn: String?
    /// The critical range, as written.
    public var crit: String?
    /// The smallest possible value.
    public var min: Double?
    /// The largest possible value.
    public var max: Double?

    /// Creates a metric.
    public init(label: String, value: Double, unit: String, warn: String?, crit: String?, min: Double?, max: Double?) {
        self.label = label
        self.value = value
        self.unit = unit
        self.warn = warn
        self.crit = crit
        self.min = min
        self.max = max
    }
}
