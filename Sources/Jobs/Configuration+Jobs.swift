public import OpsConfig

extension Configuration {
    /// Every job the scheduler runs: `jobs:` in order, plus a job named `backup` for
    /// `backup.schedule` (unless a job of that name exists already).
    public var scheduledJobs: [JobSpec] {
        var specs = jobs
        if let backup, let trigger = backup.schedule, !specs.contains(where: { $0.name == "backup" }) {
            // A nightly backup missed while the host was down should happen when it comes back.
            specs.append(JobSpec(
                name: "backup", trigger: trigger, action: .backup, catchUp: true, retries: 2,
                retryBackoff: DurationRange(lowerBound: .seconds(30), upperBound: .seconds(600))))
        }
        return specs
    }
}
