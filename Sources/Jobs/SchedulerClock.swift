public import FoundationEssentials
import DaemonRuntime

/// The scheduler's time: what the wall clock says, and a wait until a wall-clock instant.
///
/// Fire times are wall-clock instants (a cron time, a stored last fire), so the scheduler asks
/// for the date and waits for one; it never measures an interval itself. opsd uses
/// ``WallClock``; tests drive the scheduler with a clock they move by hand, so its timing rules
/// are checked without sleeping.
public protocol SchedulerClock: Sendable {
    /// The wall-clock time now.
    func now() -> Date
    /// Returns once `date` has come, true; or false as soon as the calling task is cancelled.
    func sleep(until date: Date) async -> Bool
}

/// The system's wall clock, waited on with `LoopClock`: an idle scheduler arms one loop timer
/// and wakes for nothing else.
public struct WallClock: SchedulerClock {
    /// The system clock.
    public init() {}

    /// `Date()`.
    public func now() -> Date { Date() }

    /// Long waits are cut into hour-long pieces so a wall-clock step (NTP, an operator's
    /// `date -s`) is noticed within the hour.
    public func sleep(until date: Date) async -> Bool {
        while true {
            let remaining = date.timeIntervalSinceNow
            if remaining <= 0 { return !Task.isCancelled }
            let piece = min(remaining, 3600)
            do { try await Task.sleep(for: .milliseconds(Int64((piece * 1000).rounded(.up))), clock: .loop) } catch { return false }
        }
    }
}
