import FoundationEssentials
import Glibc
import Scheduling

/// Walks a YAML node tree and turns it into typed values, collecting every problem on the way
/// instead of stopping at the first: an operator fixing a config wants the whole list at once.
///
/// Each reading method takes the key path of the node (for the message) and returns nil when the
/// value is unusable, after recording why.
final class NodeReader {
    private(set) var diagnostics: [ConfigDiagnostic] = []
    /// Relative paths in the file are resolved against this directory (the config file's own).
    let baseDirectory: String

    init(baseDirectory: String) {
        self.baseDirectory = baseDirectory
    }

    func report(_ path: String, _ message: String, at node: Node?) {
        diagnostics.append(ConfigDiagnostic(path: path, message: message, line: node?.line))
    }

    // MARK: Structure

    /// The keys of a mapping, after refusing keys not in `allowed` (a typo must never be ignored).
    func fields(_ node: Node, at path: String, allowed: [String]) -> Fields? {
        guard case .mapping(let mapping) = node else {
            if Self.isNull(node) { return Fields(path: path, node: node, values: [:], reader: self) }
            report(path, "expected a mapping with keys such as \(allowed.prefix(4).joined(separator: ", ")), found \(Self.describe(node))", at: node)
            return nil
        }
        var values: [String: Node] = [:]
        for (keyNode, value) in mapping {
            guard case .scalar(let scalar) = keyNode else {
                report(path, "keys must be plain names, found \(Self.describe(keyNode))", at: keyNode)
                continue
            }
            let key = scalar.string
            guard allowed.contains(key) else {
                let hint = Self.closest(to: key, in: allowed).map { "did you mean \"\($0)\"? " } ?? ""
                report(Self.join(path, key), "unknown key; \(hint)expected one of: \(allowed.joined(separator: ", "))", at: keyNode)
                continue
            }
            values[key] = value
        }
        return Fields(path: path, node: node, values: values, reader: self)
    }

    /// The items of a list, each with its path (`checks[2]`).
    func items(_ node: Node, at path: String) -> [(path: String, node: Node)]? {
        if Self.isNull(node) { return [] }
        guard case .sequence(let sequence) = node else {
            report(path, "expected a list (lines starting with \"- \"), found \(Self.describe(node))", at: node)
            return nil
        }
        return sequence.enumerated().map { ("\(path)[\($0.offset)]", $0.element) }
    }

    // MARK: Scalars

    func string(_ node: Node, at path: String) -> String? {
        guard case .scalar(let scalar) = node, !Self.isNull(node) else {
            report(path, Self.isNull(node) ? "has no value" : "expected a single value, found \(Self.describe(node))", at: node)
            return nil
        }
        return scalar.string
    }

    func nonEmptyString(_ node: Node, at path: String) -> String? {
        guard let text = string(node, at: path) else { return nil }
        guard !text.trimmingWhitespaceAndNewlines().isEmpty else {
            report(path, "must not be empty", at: node)
            return nil
        }
        return text
    }

    func bool(_ node: Node, at path: String) -> Bool? {
        guard let text = string(node, at: path) else { return nil }
        switch text {
        case "true": return true
        case "false": return false
        default:
            report(path, "\(Self.quote(text)) is not a boolean; write true or false", at: node)
            return nil
        }
    }

    func integer(_ node: Node, at path: String, in range: ClosedRange<Int>) -> Int? {
        guard let text = string(node, at: path) else { return nil }
        guard let value = Int(text), range.contains(value) else {
            report(path, "\(Self.quote(text)) is not a whole number from \(range.lowerBound) to \(range.upperBound)", at: node)
            return nil
        }
        return value
    }

    func duration(_ node: Node, at path: String) -> Duration? {
        guard let text = string(node, at: path) else { return nil }
        guard let value = DurationText.parse(text) else {
            let hint = Double(text) != nil ? "add a unit, e.g. \(text)s" : "write it as e.g. 500ms, 30s, 10m, 2h or 1h30m"
            report(path, "\(Self.quote(text)) is not a duration; \(hint)", at: node)
            return nil
        }
        return value
    }

    /// A duration, or `0s` (also `0`) for none: where zero turns something off (a check's
    /// `start_period:`, a worker's `max_lifetime_jitter:`). `DurationText` itself has no zero.
    func durationOrZero(_ node: Node, at path: String) -> Duration? {
        if let text = node.scalar?.string, ["0", "0s"].contains(text) { return .zero }
        return duration(node, at: path)
    }

    /// A duration that sets how often something runs (`every:`): shorter than `minimum` is
    /// refused, since `every: 0.0000000001s` would run back to back and keep a core busy.
    func interval(_ node: Node, at path: String, atLeast minimum: Duration) -> Duration? {
        guard let value = duration(node, at: path) else { return nil }
        guard value >= minimum else {
            report(path, "\(Self.quote(string(node, at: path) ?? "")) is shorter than the shortest interval, \(DurationText.format(minimum)); run it at most that often", at: node)
            return nil
        }
        return value
    }

    func threshold(_ node: Node, at path: String) -> Threshold? {
        guard let text = string(node, at: path) else { return nil }
        guard let value = Threshold.parse(text) else {
            report(path, "\(Self.quote(text)) is not a threshold; write a number (100), a percentage (80%) or a Nagios range (10:, ~:50, @10:20)", at: node)
            return nil
        }
        return value
    }

    func choice<T: RawRepresentable & CaseIterable>(_ node: Node, at path: String, as type: T.Type) -> T? where T.RawValue == String {
        guard let text = string(node, at: path) else { return nil }
        guard let value = T(rawValue: text) else {
            report(path, "\(Self.quote(text)) is not one of: \(T.allCases.map(\.rawValue).joined(separator: ", "))", at: node)
            return nil
        }
        return value
    }

    /// A list of strings; a single value counts as a list of one when `allowSingle`.
    func strings(_ node: Node, at path: String, allowSingle: Bool = false) -> [String]? {
        if allowSingle, case .scalar = node, !Self.isNull(node) { return string(node, at: path).map { [$0] } }
        guard let items = items(node, at: path) else { return nil }
        let values = items.compactMap { nonEmptyString($0.node, at: $0.path) }
        return values.count == items.count ? values : nil
    }

    /// A path; relative paths are taken relative to the config file's directory.
    func path(_ node: Node, at path: String) -> String? {
        nonEmptyString(node, at: path).map(resolve)
    }

    func paths(_ node: Node, at path: String, allowSingle: Bool = false) -> [String]? {
        strings(node, at: path, allowSingle: allowSingle)?.map(resolve)
    }

    func resolve(_ path: String) -> String {
        let absolute = path.hasPrefix("/") ? path : baseDirectory + "/" + path
        return URL(fileURLWithPath: absolute).standardizedFileURL.path
    }

    // MARK: Helpers for messages

    static func isNull(_ node: Node) -> Bool {
        guard case .scalar(let scalar) = node, scalar.style == .plain else { return false }
        return ["", "~", "null", "Null", "NULL"].contains(scalar.string)
    }

    static func describe(_ node: Node) -> String {
        switch node {
        case .mapping: "a mapping"
        case .sequence: "a list"
        case .scalar(let scalar): isNull(node) ? "nothing" : quote(scalar.string)
        }
    }

    static func quote(_ text: String) -> String {
        let short = text.count > 60 ? String(text.prefix(57)) + "..." : text
        return "\"\(short)\""
    }

    static func join(_ path: String, _ key: String) -> String {
        path.isEmpty ? key : "\(path).\(key)"
    }

    /// The allowed key nearest to a typo, if it is near enough to be a likely meaning.
    static func closest(to key: String, in candidates: [String]) -> String? {
        let scored = candidates.map { ($0, editDistance(key.lowercased(), $0)) }
        guard let best = scored.min(by: { $0.1 < $1.1 }), best.1 <= max(1, key.count / 3) else { return nil }
        return best.0
    }

    private static func editDistance(_ a: String, _ b: String) -> Int {
        let a = Array(a), b = Array(b)
        var previous = Array(0...b.count)
        for i in 1...max(a.count, 1) where !a.isEmpty {
            var current = [i] + Array(repeating: 0, count: b.count)
            for j in 1...max(b.count, 1) where !b.isEmpty {
                current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
            }
            previous = current
        }
        return previous[b.count]
    }
}

/// The checked keys of one mapping, with their paths for messages.
struct Fields {
    let path: String
    let node: Node
    let values: [String: Node]
    let reader: NodeReader

    /// The node under `key`, if present (null values count as absent).
    subscript(_ key: String) -> Node? {
        guard let value = values[key], !NodeReader.isNull(value) else { return nil }
        return value
    }

    /// The node under `key`, or a "missing" diagnostic.
    func required(_ key: String) -> Node? {
        if let value = self[key] { return value }
        reader.report(NodeReader.join(path, key), "is required but missing", at: values[key] ?? node)
        return nil
    }

    func keyPath(_ key: String) -> String { NodeReader.join(path, key) }

    /// Reads `key` with `read` when present.
    func optional<T>(_ key: String, _ read: (Node, String) -> T?) -> T? {
        self[key].flatMap { read($0, keyPath(key)) }
    }
}
