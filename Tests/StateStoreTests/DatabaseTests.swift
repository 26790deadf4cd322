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
        let first = try StateDatabase.open(stateDirectory: dir)
        try first.migrate("test.1", "CREATE TABLE runs (id INTEGER PRIMARY KEY)")
        let second = try StateDatabase.open(stateDirectory: dir)
        try second.migrate("test.1", "CREATE TABLE runs (id INTEGER PRIMARY KEY)")  // would fail if re-run
        #expect(try second.scalar("PRAGMA journal_mode") == .text("wal"))
        try first.run("INSERT INTO runs DEFAULT VALUES")
        #expect(try second.scalar("SELECT count(*) FROM runs") == .integer(1))
    }

    @Test func openingAMissingReadOnlyFileSaysWhich() throws {
        let error = #expect(throws: SQLiteError.self) { try Database(path: "/nonexistent/x.db", mode: .readOnly) }
        #expect(error?.message.contains("/nonexistent/x.db") == true)
    }
}
