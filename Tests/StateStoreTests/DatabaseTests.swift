import Testing
import StateStore
import Foundation

@Suite struct DatabaseTests {
    private func scratch() throws -> String {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("statestore-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        return dir
    }

    @Test func roundTripsEveryValueKind() throws {
        let db = try Database(path: ":memory:")
        try db.execute("CREATE TABLE t (i INTEGER, r REAL, s TEXT, b BLOB, n)")
        try db.run("INSERT INTO t VALUES (?, ?, ?, ?, ?)", 42, 2.5, "héllo", SQLValue.blob([0, 1, 255]), SQLValue.null)
        let rows = try db.query("SELECT i, r, s, b, n FROM t")
        #expect(rows == [Row(values: [.integer(42), .real(2.5), .text("héllo"), .blob([0, 1, 255]), .null])])
        #expect(rows[0].int(0) == 42 && rows[0].double(1) == 2.5 && rows[0].string(2) == "héllo")
    }

    @Test func transactionRollsBackWhenTheBodyThrows() throws {
        struct Boom: Error {}
        let db = try Database(path: ":memory:")
        try db.execute("CREATE TABLE t (x)")
        #expect(throws: Boom.self) {
            try db.transaction { try db.run("INSERT INTO t VALUES (1)"); throw Boom() }
        }
        #expect(try db.scalar("SELECT count(*) FROM t") == .integer(0))
    }

    @Test func errorsNameTheStatement() throws {
        let db = try Database(path: ":memory:")
        let error = #expect(throws: SQLiteError.self) { try db.run("SELECT * FROM missing") }
        #expect(error?.description.contains("no such table: missing") == true)
        #expect(error?.description.contains("SELECT * FROM missing") == true)
    }

    @Test func migrationsApplyOnceAcrossConnections() throws {
        let dir = try scratch()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        // CREATE TABLE without IF NOT EXISTS: applying it twice would fail.
        let schema = StateSchema("test", migrations: [.init("test.1", "CREATE TABLE runs (id INTEGER PRIMARY KEY)")])
        let first = try StateDatabase(stateDirectory: dir)
        try first.performBlocking(schema) { _ in }
        let second = try StateDatabase(stateDirectory: dir)
        try second.performBlocking(schema) { _ in }
        #expect(try second.performBlocking { try $0.scalar("PRAGMA journal_mode") } == .text("wal"))
        try first.performBlocking(schema) { try $0.run("INSERT INTO runs DEFAULT VALUES") }
        #expect(try second.performBlocking(schema) { try $0.scalar("SELECT count(*) FROM runs") } == .integer(1))
    }

    @Test("a schema is applied once per process, before its first use, and history it declares is pruned")
    func schemasApplyOnceAndPrune() async throws {
        let dir = try scratch()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let database = try await StateDatabase.open(stateDirectory: dir)
        let schema = StateSchema(
            "test", migrations: [.init("test.1", "CREATE TABLE events (time REAL NOT NULL)")], history: [("events", "time")])
        try await database.perform(schema) { try $0.run("INSERT INTO events (time) VALUES (10), (20), (30)") }
        // A second migration added later runs on the next process's first use, after the first.
        let later = StateSchema("test", migrations: schema.migrations + [.init("test.2", "ALTER TABLE events ADD COLUMN note TEXT")])
        try await StateDatabase.open(stateDirectory: dir).perform(later) { try $0.run("UPDATE events SET note = 'x'") }
        #expect(try await database.prune(before: 25) == ["events": 2])
        #expect(try await database.perform { try $0.scalar("SELECT note FROM events") } == .text("x"))
    }

    @Test func openingAMissingReadOnlyFileSaysWhich() throws {
        let error = #expect(throws: SQLiteError.self) { try Database(path: "/nonexistent/x.db", mode: .readOnly) }
        #expect(error?.message.contains("/nonexistent/x.db") == true)
    }
}
