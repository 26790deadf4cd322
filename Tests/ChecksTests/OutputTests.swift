import Foundation
import Testing
@testable import Checks
import OpsConfig

@Suite("outputs: Nagios line, health+json")
struct OutputTests {
    static let time = Date(timeIntervalSince1970: 1_800_000_000)
    static let reports = [
        CheckReport(
            name: "root-disk", kind: "disk", state: .warn, since: time,
            latest: CheckResult(state: .warn, message: "/ 85.2% used (3.0 GiB free), inodes 2.0% (warn 80%)", value: 85.2, unit: "percent", time: time, durationSeconds: 0.0001),
            every: .seconds(60), warn: "80%", crit: "90%"
        ),
        CheckReport(
            name: "api", kind: "http", state: .ok, since: time,
            latest: CheckResult(state: .ok, message: "HTTP 200 in 1.2 ms", value: 1.234, unit: "ms", time: time, durationSeconds: 0.002),
            every: .seconds(30), warn: "300", crit: nil
        ),
        CheckReport(name: "jobs", kind: "queue", state: nil, since: nil, latest: nil, every: .seconds(60), warn: nil, crit: nil),
    ]

    @Test("the Nagios line parses back: status word, text, performance data")
    func nagios() throws {
        let line = NagiosOutput.line(Self.reports)
        #expect(!line.contains("\n"))
        let parts = line.split(separator: "|", maxSplits: 1).map(String.init)
        #expect(parts.count == 2)
        // WARNING outranks UNKNOWN (monitoring-plugins' max_state_alt): the line and the exit say WARNING.
        #expect(parts[0].hasPrefix("OPSD WARNING - 2 of 3 checks not OK: root-disk WARNING: / 85.2% used"))
        #expect(parts[0].contains("jobs UNKNOWN: has not run yet"))
        let perfdata = PerfDatum.parseAll(parts[1])
        #expect(perfdata == [
            PerfDatum(label: "root-disk", value: 85.2, unit: "%", warn: "80", crit: "90", min: 0, max: 100),
            PerfDatum(label: "api", value: 1.234, unit: "ms", warn: "300"),
        ])
        #expect(Array(Self.reports).overallState.exitCode == 1)
        #expect(Array(Self.reports.prefix(2)).overallState.exitCode == 1)
        #expect(Array(Self.reports.suffix(2)).overallState.exitCode == 3)
        #expect(NagiosOutput.line([]) == "OPSD OK - no checks configured")
    }

    @Test("CRITICAL outranks UNKNOWN and WARNING in the overall state, the Nagios line and health+json")
    func criticalOutranksUnknown() throws {
        func report(_ name: String, _ state: CheckState) -> CheckReport {
            CheckReport(
                name: name, kind: "disk", state: state, since: Self.time,
                latest: CheckResult(state: state, message: "\(name) is \(state.nagiosWord)", value: nil, unit: nil, time: Self.time, durationSeconds: 0),
                every: .seconds(60), warn: nil, crit: nil
            )
        }
        // One UNKNOWN beside three CRITICAL: the "Overall: UNKNOWN, exit 3" must be CRITICAL, exit 2.
        let reports = [report("a", .unknown), report("b", .crit), report("c", .crit), report("d", .warn)]
        #expect(reports.overallState == .crit)
        #expect(reports.overallState.exitCode == 2)
        #expect(NagiosOutput.line(reports).hasPrefix("OPSD CRITICAL - "))
        #expect(HealthDocument(reports: reports, version: "1", description: "").status == "fail")
        #expect([report("a", .unknown), report("d", .warn)].overallState == .warn)
        #expect([report("a", .unknown), report("e", .ok)].overallState == .unknown)
        #expect(CheckState.allCases.sorted() == [.ok, .unknown, .warn, .crit])
    }

    @Test("health+json: status, checks keyed name:measurement, observedValue/Unit, time; no output on pass")
    func healthJSON() throws {
        let document = HealthDocument(reports: Self.reports, version: "1.0", description: "test")
        let json = try #require(try JSONSerialization.jsonObject(with: document.json()) as? [String: Any])
        #expect(json["status"] as? String == "fail")
        let checks = try #require(json["checks"] as? [String: [[String: Any]]])
        #expect(Set(checks.keys) == ["root-disk:utilization", "api:responseTime", "jobs:backlog"])
        let disk = try #require(checks["root-disk:utilization"]?.first)
        #expect(disk["observedValue"] as? Double == 85.2)
        #expect(disk["observedUnit"] as? String == "percent")
        #expect(disk["status"] as? String == "warn")
        #expect(disk["time"] as? String == "2027-01-15T08:00:00Z")
        #expect(disk["componentType"] as? String == "system")
        #expect((disk["output"] as? String)?.hasPrefix("/ 85.2% used") == true)
        #expect(checks["api:responseTime"]?.first?["output"] == nil)
        #expect(HealthDocument(reports: Array(Self.reports.prefix(2)), version: "1", description: "").status == "warn")
    }
}
