import FoundationEssentials
import Glibc

/// The Nagios plugin form of check reports: one status line with performance data, and the
/// exit code of the worst state, so `opsctl health --nagios` can be a plugin of Nagios, Icinga
/// or Checkmk itself.
///
/// `OPSD WARNING - 1 of 3 checks not OK: root-disk WARNING: / 85.2% used … | 'root-disk'=85.2%;80;90;0;100 …`
public enum NagiosOutput {
    /// The line for `reports`.
    public static func line(_ reports: [CheckReport]) -> String {
        let overall = reports.overallState
        let bad = reports.filter { $0.effectiveState != .ok }
        var text = "OPSD \(overall.nagiosWord) - "
        if reports.isEmpty {
            text += "no checks configured"
        } else if bad.isEmpty {
            text += "\(reports.count) of \(reports.count) checks OK"
        } else {
            text += "\(bad.count) of \(reports.count) checks not OK: " + bad.map { report in
                "\(report.name) \(report.effectiveState.nagiosWord): \(report.latest?.message ?? "has not run yet")"
            }.joined(separator: "; ")
        }
        // `|` separates text from performance data, so it must not appear in the text.
        text = text.replacing("|", with: "/").replacing("\n", with: " ")
        let perfdata = reports.compactMap { report -> String? in
            guard let result = report.latest, let value = result.value else { return nil }
            let unit = perfUnit(result.unit)
            let isPercent = unit == "%"
            return PerfDatum(
                label: report.name, value: (value * 1000).rounded() / 1000, unit: unit,
                warn: report.warn.map { stripPercent($0) }, crit: report.crit.map { stripPercent($0) },
                min: isPercent ? 0 : nil, max: isPercent ? 100 : nil
            ).text
        }
        return perfdata.isEmpty ? text : text + " | " + perfdata.joined(separator: " ")
    }

    /// Nagios's units of measurement for the health+json ones.
    static func perfUnit(_ unit: String?) -> String {
        switch unit {
        case "percent": "%"
        case "ms": "ms"
        case "s": "s"
        case "B", "KB", "MB", "TB", "us", "c", "%": unit ?? ""
        default: ""
        }
    }

    private static func stripPercent(_ range: String) -> String {
        range.hasSuffix("%") ? String(range.dropLast()) : range
    }
}
