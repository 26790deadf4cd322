import Foundation
import Jobs
import Logging
import OpsConfig
import StateStore
import Testing

@Suite struct SQLiteMaintenanceTests {
    private func scratchDatabase() throws -> (String, Database) {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("maint-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let path = "\(dir)/app.db"
        let db = try Database(path: path)
        try db.execute("PRAGMA journal_mode=WAL; CREATE TABLE t (x BLOB)")
        try db.transaction { for _ in 0..<200 { try db.run("INSERT INTO t VALUES (randomblob(4000))") } }
        return (path, db)
    }

    private let context = JobContext(job: "maintenance", attempt: 1, logger: Logger(label: "test"))

    private func walSize(_ path: String) -> Int {
        ((try? FileManager.default.attributesOfItem(atPath: path + "-wal"))?[.size] as? Int) ?? -1
    }

    @Test func checkpointTruncatesTheWALWhileTheAppHoldsItsConnection() async throws {
        let (path, app) = try scratchDatabase()
        #expect(walSize(path) > 500_000)
        let summary = try await SQLiteMaintenanceJob(spec: SQLiteMaintenanceSpec(databases: [path], integrityCheck: true)).run(context)
        #expect(summary == "app.db: checkpoint, optimize, integrity ok")
        #expect(walSize(path) == 0)
        #expect(try app.scalar("SELECT count(*) FROM t") == .integer(200))
    }

    @Test func vacuumOnlyInsideItsWindow() async throws {
        let (path, app) = try scratchDatabase()
        try app.run("DELETE FROM t")
        let hour = Calendar.current.component(.hour, from: Date())
        let outside = TimeWindow(start: ((hour + 2) % 24) * 60, end: ((hour + 3) % 24) * 60)
        let skipped = try await SQLiteMaintenanceJob(spec: SQLiteMaintenanceSpec(databases: [path], vacuum: .full, vacuumWindow: outside)).run(context)
        #expect(skipped.contains("vacuum skipped (outside"))
        #expect(try app.scalar("PRAGMA freelist_count") != .integer(0))
        let done = try await SQLiteMaintenanceJob(spec: SQLiteMaintenanceSpec(databases: [path], vacuum: .full)).run(context)
        #expect(done.hasSuffix("vacuum"))
        #expect(try app.scalar("PRAGMA freelist_count") == .integer(0))
    }

    @Test func aCorruptDatabaseFailsTheRunWithWhatToDo() async throws {
        let (path, app) = try scratchDatabase()
        try app.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        // Overwrite the middle of the file (table pages, not the header) with garbage.
        let handle = try #require(FileHandle(forWritingAtPath: path))
        try handle.seek(toOffset: 8192)
        handle.write(Data(repeating: 0xA5, count: 4096 * 20))
        try handle.close()
        let error = await #expect(throws: JobFailure.self) {
            try await SQLiteMaintenanceJob(spec: SQLiteMaintenanceSpec(databases: [path], checkpoint: false, integrityCheck: true)).run(context)
        }
        #expect(error?.description.contains("restore it from a backup") == true)
    }

    @Test func aMissingDatabaseSaysWhichPath() async throws {
        let error = await #expect(throws: JobFailure.self) {
            try await SQLiteMaintenanceJob(spec: SQLiteMaintenanceSpec(databases: ["/nonexistent/app.db"])).run(context)
        }
        #expect(error?.description == "/nonexistent/app.db does not exist; fix the path in the job's sqlite.databases")
    }
}

@Suite struct JobRunStoreTests {
    @Test func historyIsBoundedPerJob() async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("runs-\(UUID().uuidString)").path
        let store = try JobRunStore(stateDirectory: dir)
        let now = Date()
        for i in 0..<(JobRunStore.recordsPerJob + 5) {
            try await store.notStarted("busy", scheduled: now.addingTimeInterval(Double(i)), result: .skipped, reason: "test")
        }
        try await store.notStarted("quiet", scheduled: now, result: .skipped, reason: "test")
        let busy = try await store.history(of: "busy", limit: 5000)
        #expect(busy.count == JobRunStore.recordsPerJob)
        let newest = try #require(busy.first?.scheduledAt)
        #expect(abs(newest.timeIntervalSince(now) - Double(JobRunStore.recordsPerJob + 4)) < 0.001)
        #expect(try await store.history(of: "quiet", limit: 10).count == 1)
    }
}
