import CSpawn
import FoundationEssentials
import Glibc
import Synchronization

/// Whether opsd may give each worker a cgroup of its own, and why not.
public enum CgroupDelegation: Sendable {
    /// opsd's cgroup is delegated to it and set up: opsd in a leaf, workers beside it.
    case delegated(CgroupTree)
    /// No cgroups for workers; one sentence says why and what would change it.
    case unavailable(String)
}

/// opsd's own subtree of the cgroup v2 hierarchy, when systemd delegates it (`Delegate=yes`):
///
///     <own>/opsd           opsd itself (cgroup v2 lets processes live in leaves only)
///     <own>/workers/NAME   one per worker, kept across its restarts
///
/// The controllers of `cgroup.controllers` among memory, cpu and pids are enabled for the
/// workers, so their limits can be written. Files are read only when asked (a status request, a
/// worker's exit): no polling.
public final class CgroupTree: Sendable {
    /// opsd's own cgroup directory.
    public let directory: String
    /// The controllers enabled for the workers' cgroups (`memory`, `cpu`, `pids`, as available).
    public let controllers: Set<String>

    /// The controllers a worker's limits use.
    static let wanted = ["memory", "cpu", "pids"]

    /// Sets up `directory` (opsd's own cgroup, or a tree of plain files in a test) for workers:
    /// opsd moves to `opsd/`, controllers are enabled, `workers/` is created.
    public init(directory: String) throws(CgroupError) {
        self.directory = directory
        let available = Set((CgroupFile.read("\(directory)/cgroup.controllers") ?? "").split(whereSeparator: \.isWhitespace).map(String.init))
        try CgroupFile.makeDirectory("\(directory)/opsd")
        // opsd leaves its cgroup for a leaf (its threads move with it): cgroup v2 enables
        // controllers for children only of a cgroup without processes of its own.
        let code = CgroupFile.write("\(directory)/opsd/cgroup.procs", "\(getpid())")
        if code != 0 { throw CgroupError("cannot move opsd into \(directory)/opsd", code) }
        try CgroupFile.makeDirectory("\(directory)/workers")
        var enabled = Set<String>()
        for controller in Self.wanted where available.contains(controller) {
            if CgroupFile.write("\(directory)/cgroup.subtree_control", "+\(controller)") == 0,
               CgroupFile.write("\(directory)/workers/cgroup.subtree_control", "+\(controller)") == 0 {
                enabled.insert(controller)
            }
        }
        controllers = enabled
    }

    /// The cgroup of worker `name`, created on first use and reused for every later start:
    /// creating one costs a mkdir in cgroupfs (and the controllers' set-up), which a restart
    /// should not pay again.
    public func worker(_ name: String) throws(CgroupError) -> WorkerCgroup {
        try WorkerCgroup(directory: "\(directory)/workers/\(name)", controllers: controllers)
    }

    /// Whether opsd runs in a cgroup delegated to it, and if so that cgroup set up for workers.
    ///
    /// Delegated means: cgroup v2 (at `mountPoint`, or `mountPoint/unified` on a hybrid machine),
    /// opsd not in the root cgroup, and its cgroup handed to it by systemd: a service's cgroup
    /// owned by opsd's user (what `Delegate=yes` does for a unit with `User=`; a user's terminal
    /// scope is theirs too, but not opsd's to rearrange), or, for root, marked with systemd's
    /// `trusted.delegate` (or `user.delegate`) attribute, since root may write any cgroup but
    /// must not take over one that systemd manages.
    public static func detect(mountPoint: String = "/sys/fs/cgroup", selfCgroup: String = "/proc/self/cgroup") -> CgroupDelegation {
        let hint = "run opsd under systemd with Delegate=yes, as deploy/systemd/opsd.service does"
        guard let root = unifiedHierarchy(mountPoint) else {
            return .unavailable("this machine has no cgroup v2 hierarchy at \(mountPoint) or \(mountPoint)/unified")
        }
        let lines = (CgroupFile.read(selfCgroup) ?? "").split(separator: "\n")
        guard let line = lines.first(where: { $0.hasPrefix("0::") }) else {
            return .unavailable("\(selfCgroup) names no cgroup v2 path for opsd")
        }
        let path = String(line.dropFirst(3))
        guard path != "/" else { return .unavailable("opsd runs in the root cgroup, not in a cgroup of its own; \(hint)") }
        let directory = root + path
        var info = stat()
        let euid = geteuid()
        let delegated = euid == 0
            ? ["trusted.delegate", "user.delegate"].contains { CgroupFile.attribute(directory, $0) == "1" }
            : stat(directory, &info) == 0 && info.st_uid == euid && path.hasSuffix(".service")
        guard delegated else { return .unavailable("opsd's cgroup \(path) is not delegated to it; \(hint)") }
        guard access("\(directory)/cgroup.procs", W_OK) == 0, access("\(directory)/cgroup.subtree_control", W_OK) == 0 else {
            let reason = String(cString: strerror(errno))
            return .unavailable("opsd's cgroup \(path) is delegated but cannot be written (\(reason)); the unit needs ProtectControlGroups=no with Delegate=yes")
        }
        do {
            return .delegated(try CgroupTree(directory: directory))
        } catch {
            return .unavailable("opsd's cgroup \(path) could not be set up for workers: \(error)")
        }
    }
}

extension CgroupTree {
    /// Where cgroup v2 is mounted: `mountPoint` itself, or `mountPoint/unified` on a machine with
    /// hybrid cgroups; nil without cgroup v2.
    static func unifiedHierarchy(_ mountPoint: String) -> String? {
        [mountPoint, "\(mountPoint)/unified"].first { access("\($0)/cgroup.controllers", F_OK) == 0 }
    }

    /// Why no opsd on this machine can have a delegated cgroup (no cgroup v2, or systemd is not
    /// its init); nil when one under systemd with `Delegate=yes` can. For `opsctl config check`,
    /// which runs outside opsd's unit and so cannot ask about opsd's own cgroup.
    public static func machineCannotDelegate(mountPoint: String = "/sys/fs/cgroup", systemdDirectory: String = "/run/systemd/system") -> String? {
        guard unifiedHierarchy(mountPoint) != nil else { return "this machine has no cgroup v2 hierarchy" }
        guard access(systemdDirectory, F_OK) == 0 else { return "systemd is not this machine's init (no \(systemdDirectory))" }
        return nil
    }
}

/// A cgroup operation that failed: what, and errno.
public struct CgroupError: Error, CustomStringConvertible, Sendable, Equatable {
    /// What was tried, naming the file.
    public let action: String
    /// errno.
    public let code: Int32

    init(_ action: String, _ code: Int32) {
        self.action = action
        self.code = code
    }

    /// `cannot create /sys/fs/cgroup/…/workers/app: Permission denied`
    public var description: String { "\(action): \(String(cString: strerror(code)))" }
}

/// Small reads and writes of cgroup files, one system call each where possible.
enum CgroupFile {
    /// The file's text (at most 64 KiB), nil when it cannot be read.
    static func read(_ path: String) -> String? {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { return nil }
        defer { close(descriptor) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while bytes.count < 65536 {
            let count = chunk.withUnsafeMutableBytes { Glibc.read(descriptor, $0.baseAddress, $0.count) }
            if count < 0, errno == EINTR { continue }
            guard count > 0 else { break }
            bytes += chunk[0..<count]
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Writes `text` in one write(2); 0 or errno. Creates the file only in a test's tree of plain
    /// files: cgroupfs refuses to create files, and has every file it supports already.
    @discardableResult
    static func write(_ path: String, _ text: String) -> Int32 {
        let descriptor = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else { return errno }
        defer { close(descriptor) }
        let written = text.withCString { Glibc.write(descriptor, $0, strlen($0)) }
        return written < 0 ? errno : 0
    }

    /// The `key value` lines of a flat-keyed file (`memory.events`, `cpu.stat`) as numbers.
    static func keyed(_ path: String) -> [Substring: UInt64]? {
        guard let text = read(path) else { return nil }
        var values: [Substring: UInt64] = [:]
        for line in text.split(separator: "\n") {
            let parts = line.split(separator: " ")
            if parts.count == 2, let value = UInt64(parts[1]) { values[parts[0]] = value }
        }
        return values
    }

    static func makeDirectory(_ path: String) throws(CgroupError) {
        guard mkdir(path, 0o755) == 0 || errno == EEXIST else { throw CgroupError("cannot create \(path)", errno) }
    }

    /// An extended attribute's value, nil when absent or unreadable.
    static func attribute(_ path: String, _ name: String) -> String? {
        var buffer = [UInt8](repeating: 0, count: 64)
        let count = buffer.withUnsafeMutableBytes { getxattr(path, name, $0.baseAddress, $0.count) }
        return count > 0 ? String(decoding: buffer[0..<count], as: UTF8.self) : nil
    }
}
