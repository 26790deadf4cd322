import FoundationEssentials
import Glibc
import OpsConfig
import Scheduling

/// Memory use of the host (MemAvailable-based) and, inside a cgroup v2 with a limit (a systemd
/// service with MemoryMax=, a container), of the cgroup; the primary value is the higher one.
///
/// MemAvailable, not MemFree: the kernel's estimate of what can be used without swapping counts
/// reclaimable page cache as available, as node_exporter dashboards and `free` do.
public struct MemoryCheck: Check {
    /// Where /proc/meminfo is (a fixture in tests).
    let meminfo: String
    /// The cgroup v2 directory of this process, if any.
    let cgroupDirectory: String?

    /// Creates a memory check for this process's host and cgroup.
    public init() {
        self.init(meminfo: "/proc/meminfo", cgroupDirectory: Self.ownCgroup())
    }

    init(meminfo: String, cgroupDirectory: String?) {
        self.meminfo = meminfo
        self.cgroupDirectory = cgroupDirectory
    }

    /// `/sys/fs/cgroup` + the path in `/proc/self/cgroup`'s `0::` line (cgroup v2 only).
    static func ownCgroup() -> String? {
        guard let text = try? String(contentsOfFile: "/proc/self/cgroup", encoding: .utf8),
              let line = text.split(separator: "\n").first(where: { $0.hasPrefix("0::") }) else { return nil }
        let directory = "/sys/fs/cgroup" + line.dropFirst(3)
        return FileManager.default.fileExists(atPath: directory + "/memory.max") ? directory : nil
    }

    public func observe(deadline: ContinuousClock.Instant) async throws -> Observation {
        // /proc and cgroupfs live in memory and never block: read here, without a Dispatch hop.
        let fields = try Self.meminfoFields(try Self.read(meminfo))
        guard let total = fields["MemTotal"], total > 0, let available = fields["MemAvailable"] else {
            throw CheckFailure("\(meminfo) has no MemTotal or MemAvailable (Linux 3.14 or later is needed)")
        }
        let usedPercent = (total - available) / total * 100
        var summary = "\(ByteText.percent(usedPercent)) used (\(ByteText.format(available)) available of \(ByteText.format(total)))"
        var metrics = [
            PerfDatum(label: "used", value: Self.round(usedPercent), unit: "%", min: 0, max: 100),
            PerfDatum(label: "available", value: available, unit: "B", min: 0, max: total),
        ]
        var worst = usedPercent
        if let swapTotal = fields["SwapTotal"], swapTotal > 0, let swapFree = fields["SwapFree"] {
            let swapPercent = (swapTotal - swapFree) / swapTotal * 100
            summary += ", swap \(ByteText.percent(swapPercent))"
            metrics.append(PerfDatum(label: "swap", value: Self.round(swapPercent), unit: "%", min: 0, max: 100))
        }
        if let cgroup = try cgroupUsage() {
            // The working set (current minus inactive file cache) is what the OOM killer weighs.
            let percent = cgroup.workingSet / cgroup.limit * 100
            worst = max(worst, percent)
            summary += "; cgroup \(ByteText.percent(percent)) of its \(ByteText.format(cgroup.limit)) limit"
            metrics.append(PerfDatum(label: "cgroup", value: Self.round(percent), unit: "%", min: 0, max: 100))
        }
        return Observation(value: worst, unit: CheckKindDescriptor.memory.unit, summary: summary, metrics: metrics)
    }

    /// The cgroup's working set and limit, or nil without a cgroup or without a limit (`max`).
    func cgroupUsage() throws -> (workingSet: Double, limit: Double)? {
        guard let directory = cgroupDirectory,
              let limit = Double(try Self.read(directory + "/memory.max").trimmingWhitespaceAndNewlines()),
              limit > 0,
              let current = Double(try Self.read(directory + "/memory.current").trimmingWhitespaceAndNewlines()) else { return nil }
        let stat = (try? Self.read(directory + "/memory.stat")) ?? ""
        let inactiveFile = stat.split(separator: "\n").first { $0.hasPrefix("inactive_file ") }
            .flatMap { Double($0.split(separator: " ").last ?? "") } ?? 0
        return (max(current - inactiveFile, 0), limit)
    }

    /// `MemTotal:  16318100 kB` lines → bytes by field name.
    static func meminfoFields(_ text: String) throws -> [String: Double] {
        var fields: [String: Double] = [:]
        for line in text.split(separator: "\n") {
            let parts = line.split(whereSeparator: { $0 == ":" || $0 == " " })
            guard parts.count >= 2, let number = Double(parts[1]) else { continue }
            fields[String(parts[0])] = parts.count > 2 && parts[2] == "kB" ? number * 1024 : number
        }
        return fields
    }

    /// The text of a small file (/proc, /sys), or a failure that says why not (errno's words).
    static func read(_ path: String) throws -> String {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { throw CheckFailure("cannot read \(path): \(String(cString: strerror(errno)))") }
        defer { close(descriptor) }
        var text: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 16384)
        while true {
            let count = Glibc.read(descriptor, &chunk, chunk.count)
            if count < 0, errno == EINTR { continue }
            guard count >= 0 else { throw CheckFailure("cannot read \(path): \(String(cString: strerror(errno)))") }
            if count == 0 { return String(decoding: text, as: UTF8.self) }
            text += chunk[..<count]
        }
    }

    private static func round(_ value: Double) -> Double { (value * 100).rounded() / 100 }
}
