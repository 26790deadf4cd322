import CSpawn
import Glibc

/// One rlimit a child gets before it execs (a worker's `limits: {nofile, core, nproc, memlock}`).
public struct ChildResourceLimit: Sendable, Equatable, CustomStringConvertible {
    /// The limits a worker may set, by their config names.
    public enum Resource: String, Sendable, Equatable, CaseIterable {
        case nofile, core, nproc, memlock

        var number: Int32 {
            switch self {
            case .nofile: Int32(RLIMIT_NOFILE.rawValue)
            case .core: Int32(RLIMIT_CORE.rawValue)
            case .nproc: Int32(__RLIMIT_NPROC.rawValue)
            case .memlock: Int32(__RLIMIT_MEMLOCK.rawValue)
            }
        }
    }

    /// Which limit.
    public var resource: Resource
    /// The soft limit; nil: unlimited.
    public var soft: UInt64?
    /// The hard limit; nil: unlimited.
    public var hard: UInt64?

    /// A limit; callers guarantee soft <= hard.
    public init(_ resource: Resource, soft: UInt64?, hard: UInt64?) {
        self.resource = resource
        self.soft = soft
        self.hard = hard
    }

    /// `nofile 65536`, `nproc 256:512`, `core infinity`.
    public var description: String {
        let text = { (value: UInt64?) in value.map { "\($0)" } ?? "infinity" }
        return "\(resource.rawValue) " + (soft == hard ? text(soft) : "\(text(soft)):\(text(hard))")
    }

    /// RLIM_INFINITY, which Swift imports as an overflowing literal.
    static let infinity = UInt64.max

    var cValue: ops_rlimit {
        ops_rlimit(resource: resource.number, soft: soft ?? Self.infinity, hard: hard ?? Self.infinity)
    }

    /// This process's own hard limit of the resource; nil when unlimited or unreadable.
    var currentHardLimit: UInt64? {
        var limit = rlimit()
        guard getrlimit(__rlimit_resource_t(UInt32(resource.number)), &limit) == 0, UInt64(limit.rlim_max) != Self.infinity else { return nil }
        return UInt64(limit.rlim_max)
    }

    /// Why the child could not set it (errno `code`), and what to do: one clause for `SpawnError`.
    func failure(_ code: Int32, opsdHardLimit: UInt64?) -> String {
        let raisesHard = switch (hard, opsdHardLimit) {
        case (nil, .some): true
        case (.some(let wanted), .some(let own)): wanted > own
        default: false
        }
        if code == EPERM, raisesHard, !Self.mayRaiseHardLimits, let own = opsdHardLimit {
            return "limits: \(self) is above opsd's own hard limit (\(own)), which opsd may not raise; lower it, or raise opsd's (Limit\(resource.rawValue.uppercased())= in its unit)"
        }
        if code == EPERM, resource == .nofile, let most = CgroupFile.read("/proc/sys/fs/nr_open")?.split(separator: "\n").first {
            return "limits: \(self) is above the most the kernel allows (fs.nr_open = \(most)); lower it"
        }
        return "limits: \(self) cannot be set: \(String(cString: strerror(code)))"
    }

    /// Whether this process has CAP_SYS_RESOURCE (bit 24 of CapEff in /proc/self/status), which
    /// raising a hard limit takes.
    static var mayRaiseHardLimits: Bool {
        guard let status = CgroupFile.read("/proc/self/status"),
              let line = status.split(separator: "\n").first(where: { $0.hasPrefix("CapEff:") }),
              let mask = UInt64(line.dropFirst("CapEff:".count).filter { !$0.isWhitespace }, radix: 16) else { return false }
        return mask & (1 << 24) != 0
    }
}
