/// `backup.keep:`: how many backups a prune keeps, with restic's `forget` rules (`--keep-last`,
/// `--keep-hourly`, …). Zero leaves a rule out; a backup any rule keeps is kept.
public struct BackupKeep: Sendable, Equatable {
    /// The newest `last` backups.
    public var last: Int
    /// The newest backup of each of the `hourly` most recent hours that have one.
    public var hourly: Int
    /// The same per day.
    public var daily: Int
    /// The same per ISO week (Monday to Sunday).
    public var weekly: Int
    /// The same per month.
    public var monthly: Int
    /// The same per year.
    public var yearly: Int

    /// Creates a policy; every count defaults to 0 (rule not used).
    public init(last: Int = 0, hourly: Int = 0, daily: Int = 0, weekly: Int = 0, monthly: Int = 0, yearly: Int = 0) {
        self.last = last
        self.hourly = hourly
        self.daily = daily
        self.weekly = weekly
        self.monthly = monthly
        self.yearly = yearly
    }

    /// True when no rule is set: like restic, such a policy keeps everything.
    public var isEmpty: Bool { [last, hourly, daily, weekly, monthly, yearly].allSatisfy { $0 == 0 } }
}
