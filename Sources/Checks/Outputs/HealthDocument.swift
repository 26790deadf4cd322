public import FoundationEssentials
import Glibc
import OpsConfig

/// The `application/health+json` form of check reports (draft-inadarei-api-health-check):
/// `status` pass/warn/fail, and `checks` keyed `name:measurement`, each an array of observations
/// with `observedValue`, `observedUnit`, `status`, `time` and `output`.
public struct HealthDocument: Codable, Sendable {
    /// One observation of one check.
    public struct Observation: Codable, Sendable {
        /// The check's name.
        public var componentId: String
        /// `system` (disk, memory), `datastore` (sqlite, queue) or `component` (http, command).
        public var componentType: String
        /// The primary value, when there is one.
        public var observedValue: Double?
        /// Its unit.
        public var observedUnit: String?
        /// pass, warn or fail.
        public var status: String
        /// When the observation was made.
        public var time: Date?
        /// The check's message; left out on pass, as the draft asks.
        public var output: String?
    }

    /// pass, warn or fail: the worst of all checks.
    public var status: String
    /// Who answers: `opsd`.
    public var serviceId: String
    /// The software version.
    public var version: String
    /// What this document covers, e.g. "3 checks, run by opsd" or "run in-process by opsctl".
    public var description: String
    /// The observations, keyed `name:measurement`.
    public var checks: [String: [Observation]]

    /// Builds the document for `reports`.
    public init(reports: [CheckReport], version: String, description: String) {
        self.status = CheckState.healthStatus(reports.map(\.effectiveState))
        self.serviceId = "opsd"
        self.version = version
        self.description = description
        var checks: [String: [Observation]] = [:]
        for report in reports {
            let status = report.effectiveState.healthStatus
            let observation = Observation(
                componentId: report.name, componentType: Self.componentType(report.kind),
                observedValue: report.latest?.value.map { ($0 * 1000).rounded() / 1000 }, observedUnit: report.latest?.unit.flatMap { $0.isEmpty ? nil : $0 },
                status: status, time: report.latest?.time,
                output: status == "pass" ? nil : (report.latest?.message ?? "has not run yet")
            )
            checks["\(report.name):\(Self.measurement(report.kind))", default: []].append(observation)
        }
        self.checks = checks
    }

    /// The draft's predefined measurement name where one fits, as the kind's descriptor gives it.
    static func measurement(_ kind: String) -> String {
        CheckKindDescriptor.named(kind)?.healthMeasurement ?? "status"
    }

    /// The draft's component type, as the kind's descriptor gives it.
    static func componentType(_ kind: String) -> String {
        CheckKindDescriptor.named(kind)?.componentType ?? "component"
    }

    /// The JSON text: camelCase keys as the draft spells them, ISO-8601 times, sorted keys.
    public func json() -> Data {
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .iso8601
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
        return (try? encoder.encode(self)) ?? Data(#"{"status":"fail","output":"cannot encode the health document"}"#.utf8)
    }

    /// The media type to send it with.
    public static let contentType = "application/health+json"
}
