import Foundation
import Testing
@testable import OpsConfig

/// examples/ops.yaml is the reference an operator reads (and the man page is made from): every
/// key the parser accepts must be in it, and nothing it shows may be a key the parser refuses.
///
/// A key may be shown commented out, as a line `# key: value` whose `#` stands where the key
/// would (one space after it, a key of letters, digits and `_`, then a colon): the test reads the
/// file with those lines uncommented, so they too must make valid YAML in place. Prose comments
/// therefore never start with `word:`.
@Suite("The reference config documents every key")
struct ReferenceKeysTests {
    static let reference = "\(repositoryRoot)/examples/ops.yaml"

    /// The reference with its commented-out keys uncommented.
    static func uncommented(_ text: String) -> String {
        let commentedKey = /^(\s*)# ([A-Za-z_][A-Za-z0-9_]*:(\s.*)?)$/
        return text.split(separator: "\n", omittingEmptySubsequences: false).map { line -> String in
            guard let match = line.wholeMatch(of: commentedKey) else { return String(line) }
            return "\(match.1)\(match.2)"
        }.joined(separator: "\n")
    }

    /// Every key path in `node`, as `ConfigKeys.tables` spells them: `[]` for a list's items,
    /// `*` for a key the operator names.
    static func keyPaths(_ node: Node, at path: String = "") -> Set<String> {
        switch node {
        case .scalar: return []
        case .sequence(let items):
            return items.reduce(into: Set<String>()) { $0.formUnion(keyPaths($1, at: "\(path)[]")) }
        case .mapping(let mapping):
            var found = Set<String>()
            for (key, value) in mapping {
                let named = ConfigKeys.namedByOperator.contains(path)
                let child = named ? "\(path).*" : (path.isEmpty ? key.scalar?.string ?? "?" : "\(path).\(key.scalar?.string ?? "?")")
                if !named { found.insert(child) }
                found.formUnion(keyPaths(value, at: child))
            }
            return found
        }
    }

    @Test("the keys of examples/ops.yaml (commented-out ones too) are exactly the keys the parser accepts", .tags(.examples))
    func everyKeyDocumented() throws {
        let text = try String(contentsOfFile: Self.reference, encoding: .utf8)
        let root = try #require(try YAMLDocument.compose(Self.uncommented(text)), "examples/ops.yaml has no document")
        let documented = Self.keyPaths(root)
        let accepted = ConfigKeys.paths
        let missing = accepted.subtracting(documented).sorted()
        let extra = documented.subtracting(accepted).sorted()
        #expect(missing.isEmpty, "accepted by the parser but not in examples/ops.yaml: \(missing.joined(separator: ", "))")
        #expect(extra.isEmpty, "in examples/ops.yaml but not accepted by the parser: \(extra.joined(separator: ", "))")
    }

    @Test("every mapping the parser reads takes its keys from ConfigKeys, so the comparison cannot drift")
    func parserUsesTheTables() throws {
        let directory = "\(repositoryRoot)/Sources/OpsConfig"
        for file in try FileManager.default.contentsOfDirectory(atPath: directory) where file.hasSuffix(".swift") {
            let source = try String(contentsOfFile: "\(directory)/\(file)", encoding: .utf8)
            // `allowed: []` (memory: {}) accepts nothing, so it has nothing to document;
            // `WorkerLimits.keys` is the limits table's own list.
            for match in source.matches(of: /\.fields\([^\n]*?allowed: (?!ConfigKeys\.|\[\]\)|WorkerLimits\.keys\))[^\n)]*/) {
                Issue.record("\(file): \(source[match.range]) lists keys outside ConfigKeys; add a table there and use it")
            }
        }
    }
}
