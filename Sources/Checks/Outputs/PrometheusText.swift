/// Check results in the Prometheus text exposition format (version 0.0.4), for `/metrics`.
///
/// Written by hand rather than through swift-metrics + swift-prometheus: the values are already
/// held by `CheckMonitor`, so a registry would only hold a second copy, and the format for a few
/// gauges is a dozen lines. `promtool check metrics` validates the output in the tests.
public enum PrometheusText {
    /// The content type of the exposition format.
    public static let contentType = "text/plain; version=0.0.4; charset=utf-8"

    /// The metrics for `reports`.
    public static func render(_ reports: [CheckReport]) -> String {
        var out = ""
        func family(_ name: String, _ help: String, _ samples: [(labels: String, value: Double)]) {
            out += "# HELP \(name) \(help)\n# TYPE \(name) gauge\n"
            for sample in samples { out += "\(name){\(sample.labels)} \(number(sample.value))\n" }
        }
        func labels(_ report: CheckReport) -> String {
            "check=\"\(escape(report.name))\",kind=\"\(report.kind)\""
        }
        family(
            "opsd_check_state", "Confirmed state of each check: 0 ok, 1 warn, 2 crit, 3 unknown or pending.",
            reports.map { (labels($0), Double($0.effectiveState.exitCode)) }
        )
        family(
            "opsd_check_value", "The value each check measured in its last run, in the unit of the unit label.",
            reports.compactMap { report in
                report.latest?.value.map { ("\(labels(report)),unit=\"\(escape(report.latest?.unit ?? ""))\"", $0) }
            }
        )
        family(
            "opsd_check_duration_seconds", "How long each check's last run took.",
            reports.compactMap { report in report.latest.map { (labels(report), $0.durationSeconds) } }
        )
        family(
            "opsd_check_last_run_timestamp_seconds", "When each check last ran, in seconds since 1970.",
            reports.compactMap { report in report.latest.map { (labels(report), $0.time.timeIntervalSince1970) } }
        )
        return out
    }

    /// Label values escape backslash, double quote and newline.
    static func escape(_ value: String) -> String {
        var text = ""
        for char in value {
            switch char {
            case "\\": text += "\\\\"
            case "\"": text += "\\\""
            case "\n": text += "\\n"
            default: text.append(char)
            }
        }
        return text
    }

    static func number(_ value: Double) -> String {
        if value.isNaN { return "NaN" }
        if value.isInfinite { return value > 0 ? "+Inf" : "-Inf" }
        return value == value.rounded() && abs(value) < 1e15 ? String(Int64(value)) : "\(value)"
    }
}
