import FoundationEssentials
import Glibc
import OpsConfig

/// One item of Nagios performance data: `'label'=value[UOM];[warn];[crit];[min];[max]`.
public struct PerfDatum: Sendable, Equatable, Codable {
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

    /// Creates a performance datum.
    public init(label: String, value: Double, unit: String = "", warn: String? = nil, crit: String? = nil, min: Double? = nil, max: Double? = nil) {
        self.label = label
        self.value = value
        self.unit = unit
        self.warn = warn
        self.crit = crit
        self.min = min
        self.max = max
    }

    /// The datum in the plugin syntax; labels with spaces, `=` or quotes are quoted.
    public var text: String {
        let needsQuotes = label.contains { $0 == " " || $0 == "=" || $0 == "'" }
        let quoted = needsQuotes ? "'" + label.replacing("'", with: "''") + "'" : label
        var fields = [Self.number(value) + unit, warn ?? "", crit ?? "", min.map(Self.number) ?? "", max.map(Self.number) ?? ""]
        while fields.count > 1, fields.last == "" { fields.removeLast() }
        return quoted + "=" + fields.joined(separator: ";")
    }

    /// Parses a plugin's performance data (the text after `|`): items separated by spaces.
    /// Items that do not parse are skipped: one odd label must not lose the rest.
    public static func parseAll(_ text: String) -> [PerfDatum] {
        var data: [PerfDatum] = []
        var rest = Substring(text)
        while true {
            rest = rest.drop { $0 == " " || $0 == "\t" || $0 == "\n" }
            guard !rest.isEmpty else { break }
            var label = ""
            if rest.first == "'" {
                // A quoted label; '' inside stands for one quote.
                rest = rest.dropFirst()
                while let char = rest.first {
                    rest = rest.dropFirst()
                    if char == "'" {
                        if rest.first == "'" { label.append("'"); rest = rest.dropFirst() } else { break }
                    } else {
                        label.append(char)
                    }
                }
                guard rest.first == "=" else { rest = rest.drop { $0 != " " }; continue }
            } else {
                let name = rest.prefix { $0 != "=" && $0 != " " }
                label = String(name)
                rest = rest.dropFirst(name.count)
                guard rest.first == "=" else { rest = rest.drop { $0 != " " }; continue }
            }
            rest = rest.dropFirst()
            let item = rest.prefix { $0 != " " && $0 != "\t" && $0 != "\n" }
            rest = rest.dropFirst(item.count)
            if let datum = parseValue(label: label, item) { data.append(datum) }
        }
        return data
    }

    private static func parseValue(label: String, _ item: Substring) -> PerfDatum? {
        let fields = item.split(separator: ";", omittingEmptySubsequences: false).map(String.init)
        guard let first = fields.first, !label.isEmpty else { return nil }
        let numberPart = first.prefix { $0.isNumber || $0 == "." || $0 == "-" || $0 == "+" || $0 == "e" || $0 == "E" }
        guard let value = Double(numberPart), value.isFinite else { return nil }
        let unit = String(first.dropFirst(numberPart.count))
        func field(_ index: Int) -> String? { index < fields.count && !fields[index].isEmpty ? fields[index] : nil }
        return PerfDatum(
            label: label, value: value, unit: unit, warn: field(1), crit: field(2),
            min: field(3).flatMap(Double.init), max: field(4).flatMap(Double.init)
        )
    }

    static func number(_ value: Double) -> String {
        if value == value.rounded(), abs(value) < 1e15 { return String(Int64(value)) }
        var text = NumberText.fixed(value, digits: 3)
        while text.hasSuffix("0") { text.removeLast() }
        if text.hasSuffix(".") { text.removeLast() }
        return text
    }
}
