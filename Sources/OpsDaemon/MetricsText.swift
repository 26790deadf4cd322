/// One metric family of `/metrics`: its name, help text, type and samples.
///
/// Written by hand rather than through swift-metrics + swift-prometheus: every value already lives
/// in the supervisor, the scheduler's store, the backup records, the check monitor or the event
/// bus, and a scrape reads them on demand; a registry would hold a second copy and need updating
/// (waking) as things change. `promtool check metrics` validates the output in the tests.
public struct MetricFamily: Sendable, Equatable {
    /// How Prometheus reads the samples.
    public enum Kind: String, Sendable {
        /// A value that goes up and down.
        case gauge
        /// A count that only grows (until opsd restarts); the name ends in `_total`.
        case counter
    }

    /// One sample: its labels, in order, and its value.
    public struct Sample: Sendable, Equatable {
        /// Label names and values, in the order they are written.
        public var labels: [(name: String, value: String)]
        /// The value.
        public var value: Double

        /// Creates a sample.
        public init(_ labels: [(name: String, value: String)], _ value: Double) {
            self.labels = labels
            self.value = value
        }

        public static func == (lhs: Sample, rhs: Sample) -> Bool {
            lhs.value == rhs.value && lhs.labels.map(\.name) == rhs.labels.map(\.name) && lhs.labels.map(\.value) == rhs.labels.map(\.value)
        }
    }

    /// The family's name, with its unit suffix (`_seconds`, `_bytes`, `_total`).
    public var name: String
    /// One line for people.
    public var help: String
    /// Gauge or counter.
    public var kind: Kind
    /// The samples; a family without any is left out of the output.
    public var samples: [Sample]

    /// Creates a family.
    public init(_ name: String, _ kind: Kind, _ help: String, _ samples: [Sample]) {
        self.name = name
        self.kind = kind
        self.help = help
        self.samples = samples
    }
}

/// The Prometheus text exposition format (version 0.0.4).
public enum MetricsText {
    /// The content type of the exposition format.
    public static let contentType = "text/plain; version=0.0.4; charset=utf-8"

    /// `families` in the exposition format; families without samples are left out, so a host
    /// without jobs or a backup does not carry their empty headers.
    public static func render(_ families: [MetricFamily]) -> String {
        var out = ""
        out.reserveCapacity(families.reduce(0) { $0 + 120 + $1.samples.count * 80 })
        for family in families where !family.samples.isEmpty {
            out += "# HELP \(family.name) \(escapeHelp(family.help))\n# TYPE \(family.name) \(family.kind.rawValue)\n"
            for sample in family.samples {
                out += family.name
                if !sample.labels.isEmpty {
                    out += "{"
                    out += sample.labels.map { "\($0.name)=\"\(escape($0.value))\"" }.joined(separator: ",")
                    out += "}"
                }
                out += " \(number(sample.value))\n"
            }
        }
        return out
    }

    /// Label values escape backslash, double quote and newline.
    static func escape(_ value: String) -> String {
        guard value.contains(where: { $0 == "\\" || $0 == "\"" || $0 == "\n" }) else { return value }
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

    /// Help text escapes backslash and newline.
    static func escapeHelp(_ value: String) -> String {
        value.replacing("\\", with: "\\\\").replacing("\n", with: "\\n")
    }

    /// Integers without a fraction (timestamps, counts, bytes), everything else as Swift prints it.
    static func number(_ value: Double) -> String {
        if value.isNaN { return "NaN" }
        if value.isInfinite { return value > 0 ? "+Inf" : "-Inf" }
        return value == value.rounded() && abs(value) < 1e15 ? String(Int64(value)) : "\(value)"
    }
}
