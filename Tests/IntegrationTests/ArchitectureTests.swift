import Foundation
import Testing
import TestSupport

/// One `import` line of a source file.
struct ImportLine: Equatable, CustomStringConvertible {
    /// The file, relative to the repository.
    let file: String
    let line: Int
    /// The top-level module (`import struct NIOCore.ByteBuffer` imports `NIOCore`).
    let module: String

    var description: String { "\(file):\(line) imports \(module)" }

    /// The imports of Swift source `text`: `import X`, with any attributes (`@preconcurrency`,
    /// `@testable`, `@_spi(…)`), access level (`public`, `package`, `internal`, …) and declaration
    /// kind (`import struct X.Y`). Lines inside multi-line string literals and block comments are
    /// not code (tests carry Python whose `import os` is no Swift import).
    static func parse(_ text: String, file: String) -> [ImportLine] {
        var imports: [ImportLine] = []
        // The delimiter that ends the multi-line string literal the line is in (`"""`, or `"""#`
        // for a raw one), if any.
        var stringEnd: String?
        var inComment = false
        for (index, rawLine) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = rawLine.trimmingCharacters(in: .whitespaces)
            if let end = stringEnd {
                if line.hasPrefix(end) { stringEnd = nil }
                continue
            }
            if inComment {
                if line.contains("*/") { inComment = false }
                continue
            }
            if line.hasPrefix("/*") && !line.contains("*/") {
                inComment = true
                continue
            }
            if line.hasSuffix("\"\"\"") {
                let hashes = line.dropLast(3).reversed().prefix { $0 == "#" }.count
                stringEnd = "\"\"\"" + String(repeating: "#", count: hashes)
                continue
            }
            if let module = module(imported: line) { imports.append(ImportLine(file: file, line: index + 1, module: module)) }
        }
        return imports
    }

    private static let accessLevels: Set<Substring> = ["public", "package", "internal", "fileprivate", "private", "open"]
    private static let kinds: Set<Substring> = ["typealias", "struct", "class", "enum", "protocol", "let", "var", "func"]

    private static func module(imported line: String) -> String? {
        var words = line.split(whereSeparator: { $0 == " " || $0 == "\t" })[...]
        // Attributes, possibly with arguments: @preconcurrency, @testable, @_spi(Private).
        while let first = words.first, first.hasPrefix("@") { words = words.dropFirst() }
        if let first = words.first, accessLevels.contains(first) { words = words.dropFirst() }
        guard words.first == "import" else { return nil }
        words = words.dropFirst()
        if let first = words.first, kinds.contains(first) { words = words.dropFirst() }
        guard let path = words.first else { return nil }
        let module = path.prefix { $0.isLetter || $0.isNumber || $0 == "_" }
        guard !module.isEmpty, module.first?.isNumber == false, words.count == 1 || words.dropFirst().first?.hasPrefix("//") == true else { return nil }
        return String(module)
    }
}

/// The repository's Swift modules and what their files import.
struct SourceTree {
    /// Module name → its import lines, for every directory under `Sources/` (or `Tests/`) that has Swift files.
    let imports: [String: [ImportLine]]

    init(_ folder: String) throws {
        let root = URL(fileURLWithPath: repositoryRoot).appendingPathComponent(folder)
        var imports: [String: [ImportLine]] = [:]
        for module in try FileManager.default.contentsOfDirectory(atPath: root.path).sorted() {
            guard let walker = FileManager.default.enumerator(atPath: root.appendingPathComponent(module).path) else { continue }
            var lines: [ImportLine] = []
            var hasSwift = false
            for case let relative as String in walker where relative.hasSuffix(".swift") {
                hasSwift = true
                let path = "\(folder)/\(module)/\(relative)"
                let text = try String(contentsOfFile: "\(repositoryRoot)/\(path)", encoding: .utf8)
                lines += ImportLine.parse(text, file: path)
            }
            if hasSwift { imports[module] = lines }
        }
        self.imports = imports
    }
}

/// The import table of docs/architecture.md: module → the modules it may import.
struct ImportRules {
    static let document = "docs/architecture.md"
    /// Allowed in every module: the C library, the standard library's atomics and mutexes, and
    /// the Foundation subset that carries no ICU.
    static let everywhere: Set<String> = ["Glibc", "Synchronization", "FoundationEssentials", "Swift", "_Concurrency"]

    let allowed: [String: Set<String>]

    init() throws {
        let text = try String(contentsOfFile: "\(repositoryRoot)/\(Self.document)", encoding: .utf8)
        let lines = text.components(separatedBy: "\n")
        guard let start = lines.firstIndex(where: { $0.trimmingCharacters(in: .whitespaces) == "```imports" }),
              let end = lines[(start + 1)...].firstIndex(where: { $0.trimmingCharacters(in: .whitespaces) == "```" }) else {
            throw TestFailure("\(Self.document) has no ```imports block; the import table must be there")
        }
        var allowed: [String: Set<String>] = [:]
        for (offset, line) in lines[(start + 1)..<end].enumerated() {
            let entry = line.trimmingCharacters(in: .whitespaces)
            guard !entry.isEmpty, !entry.hasPrefix("#") else { continue }
            guard let colon = entry.firstIndex(of: ":") else {
                throw TestFailure("\(Self.document):\(start + offset + 2): \"\(entry)\" is not \"Module: Allowed, Allowed\"")
            }
            let module = entry[..<colon].trimmingCharacters(in: .whitespaces)
            guard allowed[module] == nil else { throw TestFailure("\(Self.document): \(module) has two lines in the import table") }
            allowed[module] = Set(entry[entry.index(after: colon)...].split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty })
        }
        self.allowed = allowed
    }

    /// Every module `module` can reach through allowed imports, itself excluded.
    func reachable(from module: String) -> Set<String> {
        var seen: Set<String> = []
        var queue = Array(allowed[module] ?? [])
        while let next = queue.popLast() {
            guard seen.insert(next).inserted else { continue }
            queue += allowed[next] ?? []
        }
        return seen
    }
}

/// The module graph of docs/architecture.md, checked against the code, as `FootprintTests` checks
/// the libraries the programs load.
@Suite("architecture: the import graph matches docs/architecture.md")
struct ArchitectureTests {
    /// Sources/ and Tests/, read once for all the tests here, on a thread of its own: reading every
    /// file takes seconds in a debug build, and on Swift's cooperative pool (two threads here)
    /// that held up every other test running beside it.
    static let trees = Task { await onNewThread { Result { (sources: try SourceTree("Sources"), tests: try SourceTree("Tests")) } } }

    @Test("every import in Sources is allowed by the table, and the table has a line for every module and no other")
    func importsFollowTheTable() async throws {
        let rules = try ImportRules()
        let sources = try await Self.trees.value.get().sources
        for module in sources.imports.keys.sorted() where rules.allowed[module] == nil {
            Issue.record("Sources/\(module) has no line in the import table of \(ImportRules.document); add \"\(module): …\" with the modules it may import")
        }
        for module in rules.allowed.keys.sorted() where sources.imports[module] == nil {
            Issue.record("\(ImportRules.document) has a line for \(module), but Sources/\(module) has no Swift files; remove the line")
        }
        for (module, lines) in sources.imports.sorted(by: { $0.key < $1.key }) {
            guard let allowed = rules.allowed[module] else { continue }
            for line in lines where line.module != module && !allowed.contains(line.module) && !ImportRules.everywhere.contains(line.module) {
                Issue.record("\(line), which \(ImportRules.document) does not allow \(module) to import (allowed: \(allowed.sorted().joined(separator: ", "))); remove the import or change the table, with the reason, in the same commit")
            }
        }
    }

    @Test("the table keeps the rules: no cycle, OpsAPI on its own, domains apart, no libgit2 or full Foundation in opsd and opsctl")
    func tableKeepsTheRules() throws {
        let rules = try ImportRules()
        for module in rules.allowed.keys.sorted() where rules.reachable(from: module).contains(module) {
            Issue.record("\(ImportRules.document): \(module) can reach itself through the import table; the module graph must have no cycle")
        }
        let ours = Set(rules.allowed.keys).union(["CSQLite", "CYAML", "CSystemd", "CGit2", "CCrypto", "CSpawn", "CDaemonRuntime"])
        #expect(rules.allowed["OpsAPI"]?.intersection(ours) == [], "OpsAPI, the wire vocabulary, must import no module of ours, so every side can speak it")

        let domains: Set<String> = ["Supervisor", "Jobs", "Checks", "Backup"]
        for domain in domains.sorted() {
            let forbidden = (rules.allowed[domain] ?? []).intersection(domains.union(["ControlPlane", "OpsAPI", "WireMapping", "OpsDaemon"]))
            #expect(forbidden.isEmpty, "\(domain) may import \(forbidden.sorted()): a domain imports neither another domain nor the transport or the wire; it returns typed snapshots")
        }

        let heavy: Set<String> = ["Backup", "CGit2", "CCrypto", "Foundation"]
        let opsd = rules.reachable(from: "opsd").intersection(heavy)
        #expect(opsd.isEmpty, "opsd can reach \(opsd.sorted()) through the import table: opsd must never link libgit2, OpenSSL or full Foundation")
        let opsctl = rules.reachable(from: "opsctl").intersection(heavy.union(["CSystemd"]))
        #expect(opsctl.isEmpty, "opsctl can reach \(opsctl.sorted()) through the import table: backups belong in opsctl-backup, and every opsctl start would pay for them")
    }

    @Test("only ProcessControl forks, execs and waits for children: one reaper")
    func oneReaper() async throws {
        let root = "\(repositoryRoot)/Sources"
        // Off the cooperative pool, like `trees`.
        let findings: [String] = try await onNewThread {
            Result {
                guard let walker = FileManager.default.enumerator(atPath: root) else { throw TestFailure("cannot list \(root)") }
                var findings: [String] = []
                for case let path as String in walker where path.hasSuffix(".swift") && !path.hasPrefix("ProcessControl/") {
                    let text = try String(contentsOfFile: "\(root)/\(path)", encoding: .utf8)
                    for (index, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
                        let code = line.components(separatedBy: "//").first ?? ""
                        for call in ["waitpid(", "ops_spawn(", "fork(", "posix_spawn"] where code.contains(call) {
                            findings.append("Sources/\(path):\(index + 1) calls \(call.trimmingCharacters(in: ["("])): only ProcessControl starts and reaps opsd's children (ChildProcesses, DirectSpawner); use a ProcessSpawner")
                        }
                    }
                }
                return findings
            }
        }.get()
        for finding in findings { Issue.record("\(finding)") }
    }

    @Test("Package.swift declares exactly the modules of ours and of our packages that each target imports")
    func packageMatchesImports() async throws {
        let manifest = try PackageManifest()
        let parsed = try await Self.trees.value.get()
        var trees = parsed.sources.imports
        for (module, lines) in parsed.tests.imports { trees[module] = lines }
        for (target, lines) in trees.sorted(by: { $0.key < $1.key }) {
            guard let declared = manifest.dependencies[target] else {
                Issue.record("\(target) has Swift files but no target in Package.swift")
                continue
            }
            let imported = Set(lines.map(\.module)).intersection(manifest.modules).subtracting([target])
            for missing in imported.subtracting(declared).sorted() {
                let first = lines.first { $0.module == missing }.map { " (\($0.file):\($0.line))" } ?? ""
                Issue.record("Package.swift: \(target) imports \(missing)\(first) but does not declare it; add it to the target's dependencies")
            }
            for unused in declared.subtracting(imported).sorted() {
                Issue.record("Package.swift: \(target) declares \(unused), which none of its files imports; remove it from the target's dependencies")
            }
        }
    }

    @Test("the import parser reads every form of import, and only imports")
    func parser() {
        let text = #"""
        import Foundation
        public import NIOCore
        internal import Logging
        @preconcurrency import Dispatch
        @testable import Checks
        @_spi(Testing) public import OpsAPI
        import struct NIOHTTP1.HTTPHeaders
        import CSQLite // the C library
        // import Commented
        let imported = "import NotCode"
        /* import InComment
        import StillComment */
        let python = """
            import os, sys
            import json
            """
        importer()
        """#
        #expect(ImportLine.parse(text, file: "x.swift").map(\.module) == ["Foundation", "NIOCore", "Logging", "Dispatch", "Checks", "OpsAPI", "NIOHTTP1", "CSQLite"])
        #expect(ImportLine.parse(text, file: "x.swift").first == ImportLine(file: "x.swift", line: 1, module: "Foundation"))
    }
}

/// The targets of Package.swift and the dependencies each declares, read from its text.
struct PackageManifest {
    /// Target name → the targets and products it depends on.
    let dependencies: [String: Set<String>]
    /// Every target and product name: the modules a dependency can name.
    let modules: Set<String>

    init() throws {
        let text = try String(contentsOfFile: "\(repositoryRoot)/Package.swift", encoding: .utf8)
            .components(separatedBy: "\n").filter { !$0.trimmingCharacters(in: .whitespaces).hasPrefix("//") }.joined(separator: "\n")
        var dependencies: [String: Set<String>] = [:]
        var modules: Set<String> = []
        let declaration = #/\.(target|executableTarget|testTarget|systemLibrary)\(\s*name:\s*"([^"]+)"/#
        for match in text.matches(of: declaration) {
            let name = String(match.output.2)
            let call = Self.balanced(text[match.range.upperBound...], open: "(", close: ")")
            var declared: Set<String> = []
            if let start = call.range(of: "dependencies:") {
                let list = Self.balanced(call[start.upperBound...].drop { $0 != "[" }.dropFirst(), open: "[", close: "]")
                let withoutPackages = list.replacing(#/package:\s*"[^"]*"/#, with: "")
                declared = Set(withoutPackages.matches(of: #/"([^"]+)"/#).map { String($0.output.1) })
            }
            dependencies[name] = declared
            modules.insert(name)
        }
        for product in text.matches(of: #/\.product\(\s*name:\s*"([^"]+)"/#) { modules.insert(String(product.output.1)) }
        self.dependencies = dependencies
        self.modules = modules
    }

    /// The text up to the bracket that closes the one just opened (strings skipped).
    private static func balanced(_ text: Substring, open: Character, close: Character) -> Substring {
        var depth = 1, inString = false
        for index in text.indices {
            let character = text[index]
            if character == "\"" { inString.toggle() }
            guard !inString else { continue }
            if character == open { depth += 1 }
            if character == close {
                depth -= 1
                if depth == 0 { return text[..<index] }
            }
        }
        return text
    }
}
