import FoundationEssentials
import Glibc
import OpsConfig
import Scheduling

/// The backlog of a spool directory: how many files wait, and how old the oldest is. Age matters
/// more than count: ten files an hour old mean the consumer is dead, a thousand fresh ones may
/// just be a burst. Files whose names start with `.` are in-flight temporaries and are skipped.
public struct SpoolQueueCheck: Check {
    /// The directory.
    public let directory: String
    /// The age of the oldest file at which the check warns / goes critical.
    public let warnAge: Duration?
    /// See `warnAge`.
    public let critAge: Duration?

    /// Creates the check.
    public init(directory: String, warnAge: Duration? = nil, critAge: Duration? = nil) {
        self.directory = directory
        self.warnAge = warnAge
        self.critAge = critAge
    }

    public func observe(deadline: ContinuousClock.Instant) async throws -> Observation {
        let directory = self.directory
        let (count, oldest) = try await blocking { try Self.scan(directory) }
        let age = oldest.map { max(0, Date().timeIntervalSince($0)) } ?? 0
        var state = CheckState.ok
        if let critAge, age >= critAge.seconds { state = .crit } else if let warnAge, age >= warnAge.seconds { state = .warn }
        let summary = count == 0 ? "empty" : "\(count) \(count == 1 ? "file" : "files") waiting, the oldest for \(Self.ageText(age))"
        var ageDatum = PerfDatum(label: "oldest", value: age.rounded(), unit: "s", min: 0)
        ageDatum.warn = warnAge.map { "\(Int64($0.seconds))" }
        ageDatum.crit = critAge.map { "\(Int64($0.seconds))" }
        return Observation(
            value: Double(count), unit: CheckKindDescriptor.queue.unit, summary: summary,
            metrics: [PerfDatum(label: "backlog", value: Double(count), min: 0), ageDatum], state: state
        )
    }

    static func scan(_ directory: String) throws -> (Int, Date?) {
        guard let stream = opendir(directory) else {
            throw CheckFailure("cannot list the spool directory \(directory): \(String(cString: strerror(errno)))")
        }
        defer { closedir(stream) }
        var count = 0
        var oldest: Date?
        var info = stat()
        while let entry = readdir(stream) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            guard !name.hasPrefix("."), lstat(directory + "/" + name, &info) == 0, info.st_mode & S_IFMT != S_IFDIR else { continue }
            count += 1
            let modified = Date(timeIntervalSince1970: Double(info.st_mtim.tv_sec) + Double(info.st_mtim.tv_nsec) / 1e9)
            if oldest.map({ modified < $0 }) ?? true { oldest = modified }
        }
        return (count, oldest)
    }

    static func ageText(_ seconds: Double) -> String {
        seconds < 1 ? "under a second" : DurationText.format(.seconds(Int64(seconds)))
    }
}
