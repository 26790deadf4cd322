public import Foundation
public import OpsConfig

/// Decides which backups `backup.keep` keeps, as restic's `forget` does (0.14, the version
/// Debian 12 ships): backups are taken newest first; each rule with N > 0 keeps a backup whose
/// hour (day, ISO week, month, year) differs from that of the last one the rule kept, until it
/// has kept N; `last` keeps the newest N. A backup kept by any rule is kept, with every rule
/// that kept it as its reasons. Calendar periods are read in `timeZone`: the host's local time
/// (`TimeZone.current`, i.e. TZ or /etc/localtime), as restic reads a snapshot's time.
public struct RetentionPolicy: Sendable {
    /// The counts per rule.
    public let keep: BackupKeep
    /// The zone calendar periods are read in.
    public let timeZone: TimeZone

    /// One backup and what the policy decided for it.
    public struct Decision: Sendable, Equatable {
        /// The position of the backup in the list given to `apply`.
        public var index: Int
        /// The backup's time.
        public var time: Date
        /// Why it is kept, in restic's words ("last snapshot", "daily snapshot", …); empty: dropped.
        public var reasons: [String]
        /// True when some rule keeps it.
        public var kept: Bool { !reasons.isEmpty }
    }

    /// A policy with `keep`'s counts, reading periods in `timeZone`.
    public init(keep: BackupKeep, timeZone: TimeZone = .current) {
        self.keep = keep
        self.timeZone = timeZone
    }

    /// The decision for each of `times`, newest first (ties keep their given order). An empty
    /// policy keeps everything, as restic refuses to forget with one.
    public func apply(_ times: [Date]) -> [Decision] {
        let order = times.indices.sorted { times[$0] != times[$1] ? times[$0] > times[$1] : $0 < $1 }
        if keep.isEmpty { return order.map { Decision(index: $0, time: times[$0], reasons: ["no policy"]) } }
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = timeZone
        var iso = Calendar(identifier: .iso8601)
        iso.timeZone = timeZone
        var rules: [Rule] = [
            Rule(reason: "last snapshot", remaining: keep.last) { _ in nil },
            Rule(reason: "hourly snapshot", remaining: keep.hourly) { calendar.dateComponents([.year, .month, .day, .hour], from: $0) },
            Rule(reason: "daily snapshot", remaining: keep.daily) { calendar.dateComponents([.year, .month, .day], from: $0) },
            Rule(reason: "weekly snapshot", remaining: keep.weekly) { iso.dateComponents([.yearForWeekOfYear, .weekOfYear], from: $0) },
            Rule(reason: "monthly snapshot", remaining: keep.monthly) { calendar.dateComponents([.year, .month], from: $0) },
            Rule(reason: "yearly snapshot", remaining: keep.yearly) { calendar.dateComponents([.year], from: $0) },
        ]
        return order.map { index in
            var reasons: [String] = []
            for rule in rules.indices where rules[rule].keeps(times[index]) { reasons.append(rules[rule].reason) }
            return Decision(index: index, time: times[index], reasons: reasons)
        }
    }

    /// One `--keep-*` rule: the period of the last backup it kept, and how many more it keeps.
    private struct Rule {
        let reason: String
        var remaining: Int
        /// The backup's period; nil for `last`, where every backup is a period of its own.
        let period: (Date) -> DateComponents?
        private var lastPeriod: DateComponents?

        init(reason: String, remaining: Int, period: @escaping (Date) -> DateComponents?) {
            self.reason = reason
            self.remaining = remaining
            self.period = period
        }

        mutating func keeps(_ time: Date) -> Bool {
            guard remaining > 0 else { return false }
            if let current = period(time) {
                if current == lastPeriod { return false }
                lastPeriod = current
            }
            remaining -= 1
            return true
        }
    }
}
