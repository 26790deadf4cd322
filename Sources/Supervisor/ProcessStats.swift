import FoundationEssentials
import Glibc

/// Resident memory and CPU time of a process, read from /proc.
struct ProcessStats: Sendable {
    var residentBytes: UInt64
    var cpuTime: Duration

    static let pageSize = UInt64(sysconf(Int32(_SC_PAGESIZE)))
    static let ticksPerSecond = Double(sysconf(Int32(_SC_CLK_TCK)))

    /// nil when the process is gone or /proc is not readable.
    static func read(pid: Int32) -> ProcessStats? {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let statm = try? String(contentsOfFile: "/proc/\(pid)/statm", encoding: .utf8),
              let afterName = stat.lastIndex(of: ")") else { return nil }
        // Fields after "(comm)": state is field 3, utime 14, stime 15 (1-based in proc(5)).
        let fields = stat[stat.index(after: afterName)...].split(separator: " ")
        let memory = statm.split(separator: " ")
        guard fields.count > 13, memory.count > 1, let user = Double(fields[11]), let system = Double(fields[12]),
              let pages = UInt64(memory[1]) else { return nil }
        return ProcessStats(residentBytes: pages * pageSize, cpuTime: .nanoseconds(Int64((user + system) * 1e9 / ticksPerSecond)))
    }
}
