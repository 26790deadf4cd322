import CSQLite
public import Glibc

/// A value bound to or read from an SQLite statement.
public enum SQLValue: Sendable, Equatable {
    case null
    case integer(Int64)
    case real(Double)
    case text(String)
    case blob([UInt8])
}

/// Something that can be bound as a statement parameter.
public protocol SQLBindable {
    /// The value as SQLite stores it.
    var sqlValue: SQLValue { get }
}

extension Int: SQLBindable { public var sqlValue: SQLValue { .integer(Int64(self)) } }
extension Int64: SQLBindable { public var sqlValue: SQLValue { .integer(self) } }
extension Double: SQLBindable { public var sqlValue: SQLValue { .real(self) } }
extension String: SQLBindable { public var sqlValue: SQLValue { .text(self) } }
extension Bool: SQLBindable { public var sqlValue: SQLValue { .integer(self ? 1 : 0) } }
extension SQLValue: SQLBindable { public var sqlValue: SQLValue { self } }
extension Optional: SQLBindable where Wrapped: SQLBindable {
    public var sqlValue: SQLValue { self?.sqlValue ?? .null }
}

/// An SQLite failure: the result code, SQLite's own message, and the statement that failed.
public struct SQLiteError: Error, CustomStringConvertible, Sendable {
    /// The primary or extended result code (`SQLITE_BUSY`, `SQLITE_CORRUPT`, …).
    public var code: Int32
    /// `sqlite3_errmsg` at the time of the failure.
    public var message: String
    /// The SQL text, when the failure belongs to one statement.
    public var sql: String?

    public var description: String {
        if let sql { return "\(message) (SQLite code \(code), in: \(sql))" }
        return "\(message) (SQLite code \(code))"
    }

    /// True for `SQLITE_BUSY` and `SQLITE_LOCKED`: someone else holds the lock; try again later.
    public var isBusy: Bool { code & 0xff == SQLITE_BUSY || code & 0xff == SQLITE_LOCKED }
}

/// One result row; columns by position.
public struct Row: Sendable, Equatable {
    /// The column values in select order.
    public var values: [SQLValue]

    /// A row made of `values`.
    public init(values: [SQLValue]) { self.values = values }

    public subscript(_ index: Int) -> SQLValue { index < values.count ? values[index] : .null }

    /// The column as an integer, or nil when it is NULL or not a number.
    public func int(_ index: Int) -> Int64? {
        switch self[index] {
        case .integer(let v): return v
        case .real(let v): return Int64(exactly: v.rounded(.towardZero))
        default: return nil
        }
    }

    /// The column as a double, or nil when it is NULL or not a number.
    public func double(_ index: Int) -> Double? {
        switch self[index] {
        case .integer(let v): return Double(v)
        case .real(let v): return v
        default: return nil
        }
    }

    /// The column as text, or nil when it is NULL.
    public func string(_ index: Int) -> String? {
        switch self[index] {
        case .text(let v): return v
        case .integer(let v): return String(v)
        case .real(let v): return String(v)
        case .blob(let v): return String(decoding: v, as: UTF8.self)
        case .null: return nil
        }
    }

    /// The column as bytes, or nil when it is NULL.
    public func blob(_ index: Int) -> [UInt8]? {
        switch self[index] {
        case .blob(let v): return v
        case .text(let v): return Array(v.utf8)
        default: return nil
        }
    }
}

/// One SQLite connection. Not thread-safe by itself: give it one owner (an actor, or one thread).
///
/// A small wrapper over the C API rather than a library: SQLite's API is stable, and the
/// project needs exactly prepared statements, transactions and the raw handle (for the
/// online backup API).
public final class Database {
    /// How to open the file.
    public enum Mode: Sendable {
        /// Read-only; the file must exist.
        case readOnly
        /// Read-write; the file must exist.
        case readWrite
        /// Read-write, created when missing.
        case readWriteCreate
    }

    /// The raw `sqlite3*`, for APIs this wrapper does not cover.
    public let handle: OpaquePointer
    /// The path the connection was opened with.
    public let path: String

    /// The SQLite library actually loaded, e.g. `3.40.1` (logged at start: a bug report needs the
    /// version that ran, not the one built against).
    public static var libraryVersion: String { String(cString: sqlite3_libversion()) }

    /// Opens `path`. `busyTimeout` is how long a statement waits for another connection's lock.
    ///
    /// A file created here gets `creationMode` (the umask still applies), and SQLite gives its
    /// `-wal` and `-shm` files the same: SQLite alone would create it 0644, readable by every user.
    public init(
        path: String, mode: Mode = .readWriteCreate, busyTimeout: Duration = .seconds(5), creationMode: mode_t = 0o600
    ) throws(SQLiteError) {
        if mode == .readWriteCreate { Self.create(path, mode: creationMode) }
        var flags: Int32 = SQLITE_OPEN_NOMUTEX
        switch mode {
        case .readOnly: flags |= SQLITE_OPEN_READONLY
        case .readWrite: flags |= SQLITE_OPEN_READWRITE
        case .readWriteCreate: flags |= SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE
        }
        var db: OpaquePointer?
        let rc = sqlite3_open_v2(path, &db, flags, nil)
        guard rc == SQLITE_OK, let db else {
            let message = db.map { String(cString: sqlite3_errmsg($0)) } ?? "out of memory"
            sqlite3_close_v2(db)
            throw SQLiteError(code: rc, message: "cannot open \(path): \(message)")
        }
        self.handle = db
        self.path = path
        sqlite3_extended_result_codes(db, 1)
        let ms = busyTimeout.components.seconds * 1000 + busyTimeout.components.attoseconds / 1_000_000_000_000_000
        sqlite3_busy_timeout(db, Int32(clamping: ms))
    }

    deinit { sqlite3_close_v2(handle) }

    /// Creates an empty `path` with `mode` if nothing is there, for SQLite to open. O_EXCL never
    /// follows a link; an existing file is left as it is, and any failure is SQLite's to report.
    private static func create(_ path: String, mode: mode_t) {
        guard !path.isEmpty, path != ":memory:", !path.hasPrefix("file:") else { return }
        let descriptor = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode)
        if descriptor >= 0 { close(descriptor) }
    }

    /// Runs one or more statements that return no rows (schema, pragmas).
    public func execute(_ sql: String) throws(SQLiteError) {
        var error: UnsafeMutablePointer<CChar>?
        let rc = sqlite3_exec(handle, sql, nil, nil, &error)
        if rc != SQLITE_OK {
            let message = error.map { String(cString: $0) } ?? String(cString: sqlite3_errmsg(handle))
            sqlite3_free(error)
            throw SQLiteError(code: rc, message: message, sql: sql)
        }
    }

    /// Runs one statement with parameters, discarding rows; returns the number of rows changed.
    @discardableResult
    public func run(_ sql: String, _ arguments: any SQLBindable...) throws(SQLiteError) -> Int {
        let statement = try Statement(self, sql)
        try statement.bind(arguments)
        while try statement.step() {}
        return Int(sqlite3_changes(handle))
    }

    /// Runs one query with parameters and returns every row.
    public func query(_ sql: String, _ arguments: any SQLBindable...) throws(SQLiteError) -> [Row] {
        let statement = try Statement(self, sql)
        try statement.bind(arguments)
        var rows: [Row] = []
        while try statement.step() { rows.append(statement.row()) }
        return rows
    }

    /// The first column of the first row, or `.null` when there is no row.
    public func scalar(_ sql: String, _ arguments: any SQLBindable...) throws(SQLiteError) -> SQLValue {
        let statement = try Statement(self, sql)
        try statement.bind(arguments)
        return try statement.step() ? statement.row()[0] : .null
    }

    /// Runs `body` in a transaction (`BEGIN IMMEDIATE`: writers queue up at the start, not at
    /// the first write); commits when it returns, rolls back when it throws.
    public func transaction<T>(_ body: () throws -> T) throws -> T {
        try execute("BEGIN IMMEDIATE")
        do {
            let result = try body()
            try execute("COMMIT")
            return result
        } catch {
            try? execute("ROLLBACK")
            throw error
        }
    }

    /// The rowid of the last INSERT on this connection.
    public var lastInsertRowID: Int64 { sqlite3_last_insert_rowid(handle) }

    fileprivate func error(_ rc: Int32, _ sql: String?) -> SQLiteError {
        SQLiteError(code: rc, message: String(cString: sqlite3_errmsg(handle)), sql: sql)
    }
}

/// A prepared statement; `step()` until it returns false.
public final class Statement {
    private let database: Database
    private let pointer: OpaquePointer
    private let sql: String

    /// Compiles `sql` on `database`.
    public init(_ database: Database, _ sql: String) throws(SQLiteError) {
        var statement: OpaquePointer?
        let rc = sqlite3_prepare_v2(database.handle, sql, -1, &statement, nil)
        guard rc == SQLITE_OK, let statement else { throw database.error(rc, sql) }
        self.database = database
        self.pointer = statement
        self.sql = sql
    }

    deinit { sqlite3_finalize(pointer) }

    /// Binds positional parameters (`?`), starting at 1.
    public func bind(_ arguments: [any SQLBindable]) throws(SQLiteError) {
        sqlite3_reset(pointer)
        sqlite3_clear_bindings(pointer)
        for (offset, argument) in arguments.enumerated() {
            let index = Int32(offset + 1)
            let rc: Int32
            switch argument.sqlValue {
            case .null: rc = sqlite3_bind_null(pointer, index)
            case .integer(let v): rc = sqlite3_bind_int64(pointer, index, v)
            case .real(let v): rc = sqlite3_bind_double(pointer, index, v)
            case .text(let v): rc = sqlite3_bind_text(pointer, index, v, -1, transient)
            case .blob(let v):
                rc = v.withUnsafeBytes { sqlite3_bind_blob64(pointer, index, $0.baseAddress, sqlite3_uint64($0.count), transient) }
            }
            guard rc == SQLITE_OK else { throw database.error(rc, sql) }
        }
    }

    /// Advances to the next row: true when a row is available, false when done.
    public func step() throws(SQLiteError) -> Bool {
        let rc = sqlite3_step(pointer)
        switch rc {
        case SQLITE_ROW: return true
        case SQLITE_DONE: return false
        default: throw database.error(rc, sql)
        }
    }

    /// The current row.
    public func row() -> Row {
        let count = sqlite3_column_count(pointer)
        var values: [SQLValue] = []
        values.reserveCapacity(Int(count))
        for column in 0..<count {
            switch sqlite3_column_type(pointer, column) {
            case SQLITE_INTEGER: values.append(.integer(sqlite3_column_int64(pointer, column)))
            case SQLITE_FLOAT: values.append(.real(sqlite3_column_double(pointer, column)))
            case SQLITE_TEXT:
                values.append(.text(sqlite3_column_text(pointer, column).map { String(cString: $0) } ?? ""))
            case SQLITE_BLOB:
                let size = Int(sqlite3_column_bytes(pointer, column))
                if size > 0, let bytes = sqlite3_column_blob(pointer, column) {
                    values.append(.blob(Array(UnsafeRawBufferPointer(start: bytes, count: size))))
                } else {
                    values.append(.blob([]))
                }
            default: values.append(.null)
            }
        }
        return Row(values: values)
    }
}

/// SQLITE_TRANSIENT: SQLite copies the bound bytes before the call returns.
private let transient = unsafeBitCast(OpaquePointer(bitPattern: -1), to: sqlite3_destructor_type.self)
