import Glibc

/// Resident memory and CPU time of a process, read from /proc.
///
/// `opsctl status` reads this for every worker, so it is parsed straight from the bytes of
/// `/proc/PID/stat` and `/proc/PID/statm` on the stack: no Strings, no heap (with 50 workers the
/// String-based reader was half of the daemon's time per status request).
struct ProcessStats: Sendable {
    var residentBytes: UInt64
    var cpuTime: Duration

    static let pageSize = UInt64(sysconf(Int32(_SC_PAGESIZE)))
    static let ticksPerSecond = UInt64(sysconf(Int32(_SC_CLK_TCK)))

    /// nil when the process is gone or /proc is not readable.
    static func read(pid: Int32) -> ProcessStats? {
        // proc(5), 1-based: utime is field 14, stime 15; statm's second field is resident pages.
        guard let ticks = ProcFile.fields(of: "/proc/\(pid)/stat", afterName: true, wanted: [14, 15]),
              let pages = ProcFile.fields(of: "/proc/\(pid)/statm", afterName: false, wanted: [2]) else { return nil }
        let nanoseconds = (ticks[0] + ticks[1]) * 1_000_000_000 / ticksPerSecond
        return ProcessStats(residentBytes: pages[0] * pageSize, cpuTime: .nanoseconds(Int64(clamping: nanoseconds)))
    }

    /// The parent pid of `pid` (field 4 of `/proc/PID/stat`), nil when the process is gone.
    static func parent(of pid: Int32) -> Int32? {
        ProcFile.fields(of: "/proc/\(pid)/stat", afterName: true, wanted: [4]).flatMap { Int32(exactly: $0[0]) }
    }
}

/// The numeric fields of a one-line /proc file, parsed in a stack buffer.
enum ProcFile {
    /// The fields numbered `wanted` (1-based, ascending, as in proc(5)) of the file at `path`.
    ///
    /// With `afterName`, counting resumes after the last `)`, which closes the command name: the name
    /// may hold spaces and parentheses, so it is fields 1 and 2 together. nil when the file cannot be
    /// read or a wanted field is missing or not a number.
    static func fields(of path: String, afterName: Bool, wanted: [Int]) -> [UInt64]? {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { return nil }
        defer { close(descriptor) }
        return withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 1024) { buffer -> [UInt64]? in
            guard let base = buffer.baseAddress else { return nil }
            let count = Glibc.read(descriptor, base, buffer.count)
            guard count > 0 else { return nil }
            var index = 0
            var field = 1  // the number of the next token
            if afterName {
                guard let close = (0..<count).last(where: { buffer[$0] == UInt8(ascii: ")") }) else { return nil }
                index = close + 1
                field = 3
            }
            var values: [UInt64] = []
            values.reserveCapacity(wanted.count)
            var next = 0
            while index < count, next < wanted.count {
                while index < count, buffer[index] == UInt8(ascii: " ") { index += 1 }
                guard index < count, buffer[index] != UInt8(ascii: "\n") else { break }
                var value: UInt64 = 0
                var digits = 0
                var numeric = true
                while index < count, buffer[index] != UInt8(ascii: " "), buffer[index] != UInt8(ascii: "\n") {
                    let byte = buffer[index]
                    if numeric, byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") {
                        let (product, overflow) = value.multipliedReportingOverflow(by: 10)
                        value = product &+ UInt64(byte - UInt8(ascii: "0"))
                        numeric = !overflow
                        digits += 1
                    } else {
                        numeric = false
                    }
                    index += 1
                }
                if field == wanted[next] {
                    guard numeric, digits > 0 else { return nil }
                    values.append(value)
                    next += 1
                }
                field += 1
            }
            return next == wanted.count ? values : nil
        }
    }
}
