public import Jobs
public import Systemd

/// Watchdog probe: the scheduler actor answers (a stuck actor would silently stop every job).
public struct SchedulerProbe: LivenessProbe {
    let scheduler: JobScheduler

    /// Creates the probe.
    public init(scheduler: JobScheduler) {
        self.scheduler = scheduler
    }

    /// "scheduler"
    public var name: String { "scheduler" }

    /// Calls into the actor.
    public func probe() async throws {
        await scheduler.heartbeat()
    }
}
