public import Checks
public import OpsAPI

extension CheckLevel {
    /// The API's state for a confirmed state; nil, not confirmed yet, is `pending`.
    public init(_ state: Checks.CheckState?) {
        switch state {
        case nil: self = .pending
        case .ok: self = .ok
        case .warn: self = .warn
        case .crit: self = .crit
        case .unknown: self = .unknown
        }
    }
}

extension Checks.CheckState {
    /// The check's state for the API's; `pending` has none.
    public init?(_ level: CheckLevel) {
        switch level {
        case .pending: return nil
        case .ok: self = .ok
        case .warn: self = .warn
        case .crit: self = .crit
        case .unknown: self = .unknown
        }
    }
}

extension CheckHealth {
    /// The API form of a check's report (`GET /v1/health`).
    public init(_ report: CheckReport) {
        self.init(
            name: report.name, kind: report.kind, state: CheckLevel(report.state), since: report.since, latest: report.latest.map(CheckRun.init),
            everySeconds: seconds(report.every), warn: report.warn, crit: report.crit
        )
    }
}

extension CheckRun {
    /// The API form of one run's result.
    public init(_ result: CheckResult) {
        self.init(
            state: CheckLevel(result.state), message: result.message, value: result.value, unit: result.unit,
            metrics: result.metrics.map(CheckMetric.init), time: result.time, durationSeconds: result.durationSeconds
        )
    }
}

extension CheckMetric {
    /// The API form of a performance datum.
    public init(_ datum: PerfDatum) {
        self.init(label: datum.label, value: datum.value, unit: datum.unit, warn: datum.warn, crit: datum.crit, min: datum.min, max: datum.max)
    }
}

extension CheckStatus {
    /// A check's line in `GET /v1/status`.
    public init(_ report: CheckReport) {
        self.init(
            name: report.name, kind: report.kind, state: CheckLevel(report.state), everySeconds: seconds(report.every),
            message: report.latest?.message, lastRun: report.latest?.time
        )
    }
}

// opsctl renders what it receives with the checks' own outputs (table, health+json, Nagios line),
// the ones opsd's /healthz and /metrics use, so it reads the API form back into the checks' form.

extension CheckReport {
    /// The checks' form of a report received from opsd.
    public init(_ health: CheckHealth) {
        self.init(
            name: health.name, kind: health.kind, state: Checks.CheckState(health.state), since: health.since,
            latest: health.latest.map(CheckResult.init), every: .nanoseconds(Int64((health.everySeconds * 1e9).rounded())),
            warn: health.warn, crit: health.crit
        )
    }
}

extension CheckResult {
    /// The checks' form of a run received from opsd; a run is never pending, so that reads as unknown.
    public init(_ run: CheckRun) {
        self.init(
            state: Checks.CheckState(run.state) ?? .unknown, message: run.message, value: run.value, unit: run.unit,
            metrics: run.metrics.map(PerfDatum.init), time: run.time, durationSeconds: run.durationSeconds
        )
    }
}

extension PerfDatum {
    /// The checks' form of a metric received from opsd.
    public init(_ metric: CheckMetric) {
        self.init(label: metric.label, value: metric.value, unit: metric.unit, warn: metric.warn, crit: metric.crit, min: metric.min, max: metric.max)
    }
}
