import Foundation
import Testing
import TestSupport

/// docs/cli-json.md: every `opsctl … --json` output has snake_case keys, whichever command prints
/// it and whether opsd runs or not; only `opsctl health --json` keeps the health+json draft's names.
@Suite("one JSON convention for every --json output (docs/cli-json.md)")
struct JSONConventionTests {
    /// The names the application/health+json draft gives its members; `opsctl health --json`
    /// prints the draft's document, so these stay as the draft spells them.
    static let healthDraftNames: Set<String> = ["serviceId", "componentId", "componentType", "observedValue", "observedUnit"]

    /// The paths of the keys in `json` that are not snake_case, or not one of `allowed`.
    /// `freeKeys` names objects whose keys are data (check names), not field names.
    static func offendingKeys(_ json: Any, path: String = "", allowed: Set<String> = [], freeKeys: Set<String> = []) -> [String] {
        switch json {
        case let object as [String: Any]:
            return object.keys.sorted().flatMap { key -> [String] in
                let keyPath = path + "." + key
                let own = isSnakeCase(key) || allowed.contains(key) || freeKeys.contains(path) ? [] : [keyPath]
                return own + offendingKeys(object[key] as Any, path: keyPath, allowed: allowed, freeKeys: freeKeys)
            }
        case let array as [Any]:
            return array.flatMap { offendingKeys($0, path: path + "[]", allowed: allowed, freeKeys: freeKeys) }
        default:
            return []
        }
    }

    /// ^[a-z][a-z0-9_]*$
    static func isSnakeCase(_ key: String) -> Bool {
        guard let first = key.unicodeScalars.first, ("a"..."z").contains(first) else { return false }
        return key.unicodeScalars.allSatisfy { ("a"..."z").contains($0) || ("0"..."9").contains($0) || $0 == "_" }
    }

    /// Runs `opsctl arguments`, expects `status` (any, when nil) and JSON on stdout, and returns its
    /// keys that break the convention.
    static func check(_ arguments: [String], status: Int32? = 0, allowed: Set<String> = [], freeKeys: Set<String> = []) async throws -> [String] {
        let result = try await run("opsctl", arguments)
        #expect(status == nil || result.status == status, "opsctl \(arguments.joined(separator: " ")): \(result.stderr)")
        guard let json = try? JSONSerialization.jsonObject(with: Data(result.stdout.utf8), options: [.fragmentsAllowed]) else {
            return ["opsctl \(arguments.joined(separator: " ")): stdout is not JSON: \(result.stdout)"]
        }
        return offendingKeys(json, allowed: allowed, freeKeys: freeKeys).map { "opsctl \(arguments.joined(separator: " ")): \($0)" }
    }

    @Test("the checker itself: camelCase, capitals and leading digits are caught, check names under checks are data")
    func checker() {
        let json: [String: Any] = ["ok_key": 1, "lastExit": ["code": 1], "nested": [["Bad": true, "fine_2": false]], "9lives": 0]
        #expect(Self.offendingKeys(json).sorted() == [".9lives", ".lastExit", ".nested[].Bad"])
        #expect(Self.offendingKeys(["checks": ["disk:utilization": []]], freeKeys: [".checks"]).isEmpty)
    }

    @Test("status, health, workers, jobs, reload, config check, schedule preview, backup and restore, with opsd and without")
    func everyCommand() async throws {
        let scratch = try Scratch()
        let database = "\(scratch.path)/app.db"
        let created = try await run("/usr/bin/sqlite3", [database, "CREATE TABLE t (x); INSERT INTO t VALUES (1);"])
        try #require(created.status == 0, "\(created.stderr)")
        let config = try scratch.config(extra: """
            workers:
              - {name: web, command: [/bin/sleep, "1000"]}
            checks:
              - {name: root, disk: /, warn: "99%", every: 1h}
            jobs:
              - {name: hello, every: 1h, command: [/bin/echo, hello]}
            backup:
              repository: \(scratch.path)/backup.git
              databases: [\(database)]
            """)
        let broken = try scratch.write("broken.yaml", "workers: [{name: w}]\nchecks: [{name: c, disk: /, warn: eighty}]\n")
        var offending: [String] = []
        /// `opsctl events --json` prints JSON lines: each line one object, in the one convention.
        func expectLines(_ arguments: [String]) async throws {
            let result = try await run("opsctl", arguments)
            #expect(result.status == 0, "opsctl \(arguments.joined(separator: " ")): \(result.stderr)")
            let lines = result.stdout.split(separator: "\n")
            #expect(!lines.isEmpty, "opsctl \(arguments.joined(separator: " ")) printed no event")
            for line in lines {
                guard let json = try? JSONSerialization.jsonObject(with: Data(line.utf8)) else {
                    offending.append("opsctl \(arguments.joined(separator: " ")): a line is not JSON: \(line)")
                    continue
                }
                offending += Self.offendingKeys(json).map { "opsctl \(arguments.joined(separator: " ")): \($0)" }
            }
        }
        func expectConvention(_ arguments: [String], status: Int32? = 0, allowed: Set<String> = [], freeKeys: Set<String> = []) async throws {
            offending += try await Self.check(arguments, status: status, allowed: allowed, freeKeys: freeKeys)
        }

        // Without opsd: what opsctl answers on its own.
        try await expectConvention(["config", "check", "--json", config])
        try await expectConvention(["config", "check", "--json", broken], status: 1)
        try await expectConvention(["schedule", "preview", "30 2 * * *", "--count", "2", "--json"])
        try await expectConvention(["--config", config, "jobs", "run", "hello", "--json"])
        try await expectConvention(["--config", config, "jobs", "--json"])
        try await expectConvention(["--config", config, "jobs", "show", "hello", "--json"])
        try await expectConvention(["--config", config, "health", "--json"], status: nil, allowed: Self.healthDraftNames, freeKeys: [".checks"])
        try await expectConvention(["--config", config, "backup", "--json"])
        try await expectConvention(["--config", config, "backup", "list", "--json"])
        try await expectConvention(["--config", config, "restore", "--to", "\(scratch.path)/restored.db", "--json"])

        // With opsd: what it answers through opsctl.
        let daemon = try await Daemon(config: config, scratch: scratch)
        try await expectConvention(["--config", config, "status", "--json"])
        try await expectConvention(["--config", config, "workers", "restart", "web", "--json"])
        try await expectConvention(["--config", config, "health", "--json"], status: nil, allowed: Self.healthDraftNames, freeKeys: [".checks"])
        try await expectConvention(["--config", config, "jobs", "run", "hello", "--json"])
        try await expectConvention(["--config", config, "jobs", "--json"])
        try await expectConvention(["--config", config, "jobs", "show", "hello", "--json"])
        try await expectConvention(["--config", config, "reload", "--json"])
        // JSON lines, one event each: every line is checked, the events' fields included.
        try await expectLines(["--config", config, "events", "--json"])
        daemon.signal(SIGTERM)
        #expect(await daemon.exitStatus() == 0)
        try await expectLines(["--config", config, "events", "--json"])

        #expect(offending.isEmpty, "keys that are not snake_case:\n\(offending.joined(separator: "\n"))")
    }
}
