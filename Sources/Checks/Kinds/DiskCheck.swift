import FoundationEssentials
import Glibc
import OpsConfig

/// Space and inode use of the filesystems holding some paths, computed the way `df` does.
///
/// `df`'s Use% is used / (used + available): blocks reserved for root count neither as used nor
/// as available, so a disk "100 % full" for users is reported as such even while root still has
/// its 5 %. The primary value is the worst space or inode percentage of all paths.
public struct DiskCheck: Check {
    /// The paths whose filesystems are measured.
    public let paths: [String]

    /// Creates a disk check.
    public init(paths: [String]) {
        self.paths = paths
    }

    /// One filesystem's numbers, from statvfs(3).
    public struct Usage: Sendable, Equatable {
        /// Used space as `df` shows it, 0–100.
        public var usedPercent: Double
        /// Bytes available to unprivileged users (node_exporter's `avail_bytes`).
        public var availableBytes: Double
        /// Size of the filesystem in bytes.
        public var sizeBytes: Double
        /// Used inodes, 0–100 (0 for filesystems without a fixed inode table).
        public var inodesUsedPercent: Double
    }

    /// Reads statvfs for one path.
    public static func usage(of path: String) throws -> Usage {
        var info = statvfs()
        guard statvfs(path, &info) == 0 else {
            throw CheckFailure("cannot measure the filesystem of \(path): \(String(cString: strerror(errno)))")
        }
        let blockSize = Double(info.f_frsize)
        let used = Double(info.f_blocks - info.f_bfree) * blockSize
        let available = Double(info.f_bavail) * blockSize
        let usedPercent = used + available > 0 ? used / (used + available) * 100 : 0
        let inodes = Double(info.f_files)
        let inodesUsed = inodes > 0 ? (inodes - Double(info.f_ffree)) / inodes * 100 : 0
        return Usage(usedPercent: usedPercent, availableBytes: available, sizeBytes: Double(info.f_blocks) * blockSize, inodesUsedPercent: inodesUsed)
    }

    public func observe(deadline: ContinuousClock.Instant) async throws -> Observation {
        let paths = self.paths
        let usages = try await blocking { try paths.map { ($0, try Self.usage(of: $0)) } }
        var worst = 0.0
        var parts: [String] = []
        var metrics: [PerfDatum] = []
        for (path, usage) in usages {
            worst = max(worst, usage.usedPercent, usage.inodesUsedPercent)
            parts.append("\(path) \(ByteText.percent(usage.usedPercent)) used (\(ByteText.format(usage.availableBytes)) free), inodes \(ByteText.percent(usage.inodesUsedPercent))")
            metrics.append(PerfDatum(label: path, value: (usage.usedPercent * 100).rounded() / 100, unit: "%", min: 0, max: 100))
            metrics.append(PerfDatum(label: "\(path) avail", value: usage.availableBytes, unit: "B", min: 0, max: usage.sizeBytes))
            metrics.append(PerfDatum(label: "\(path) inodes", value: (usage.inodesUsedPercent * 100).rounded() / 100, unit: "%", min: 0, max: 100))
        }
        return Observation(value: worst, unit: CheckKindDescriptor.disk.unit, summary: parts.joined(separator: "; "), metrics: metrics)
    }
}

/// Bytes for people: `512 B`, `12.3 GiB`.
enum ByteText {
    static func format(_ bytes: Double) -> String {
        let units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"]
        var value = bytes
        var index = 0
        while value >= 1024, index < units.count - 1 {
            value /= 1024
            index += 1
        }
        return index == 0 ? "\(Int(value)) B" : NumberText.fixed(value, digits: 1) + " " + units[index]
    }

    /// `42.1%`.
    static func percent(_ value: Double) -> String {
        NumberText.fixed(value, digits: 1) + "%"
    }
}
