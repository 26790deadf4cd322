import Foundation
@testable import Jobs
import StateStore
import Testing

@Suite("A run's output tail")
struct RunOutputTailTests {
    @Test("a state database made before the output column gets it, and its old runs read as having none")
    func migratesAnExistingDatabase() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("tail-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        // The schema as it was before the tail: its first migration alone.
        let old = try #require(JobRunStore.schema.migrations.first)
        #expect(old.name == "jobs.1")
        let before = try StateDatabase(stateDirectory: directory)
        try before.performBlocking(StateSchema("jobs", migrations: [old])) { database in
            _ = try database.run("INSERT INTO job_runs (job, scheduled_at, started_at, finished_at, result, attempts, message) VALUES ('old', 1, 1, 2, 'ok', 1, 'done')")
        }

        let store = try JobRunStore(stateDirectory: directory)
        #expect(try await store.history(of: "old", limit: 5).map(\.output) == [nil])
        let id = try await store.started("new", scheduled: Date(), at: Date())
        try await store.finished(id, result: .failed, attempts: 1, message: "sh ended with exit 1", output: "a\nb", at: Date())
        #expect(try await store.lastRun(of: "new")?.output == "a\nb")
    }

    @Test("the tail keeps the last 20 lines, or fewer when 4 KiB holds fewer, and masks the environment's values")
    func boundsAndMasks() {
        let ring = RunOutputTail.ring()
        for line in 1...30 { ring.append(Array("line \(line)\n".utf8)) }
        #expect(RunOutputTail.text(of: ring, masking: [:]) == (11...30).map { "line \($0)" }.joined(separator: "\n"))

        let long = RunOutputTail.ring()
        let wide = String(repeating: "x", count: 1000)
        for line in 1...10 { long.append(Array("\(line) \(wide)\n".utf8)) }
        // 4096 bytes hold the last four lines (4013 bytes) and the end of line 6, which is left out.
        #expect(RunOutputTail.text(of: long, masking: [:])?.split(separator: "\n").map { $0.prefix(2) } == ["7 ", "8 ", "9 ", "10"])

        let secret = RunOutputTail.ring()
        secret.append(Array("token=abcd1234 debug=1\n".utf8))
        #expect(RunOutputTail.text(of: secret, masking: ["TOKEN": "abcd1234", "DEBUG": "1"]) == "token=<masked> debug=1")
        #expect(RunOutputTail.text(of: RunOutputTail.ring(), masking: [:]) == nil)
    }
}
