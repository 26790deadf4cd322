import CSystemd
#if canImport(Glibc)
import Glibc
#endif

/// Tells the service manager about opsd's state through the sd_notify protocol.
///
/// Outside systemd (`NOTIFY_SOCKET` unset) every call is a cheap no-op, so callers never need to
/// ask whether they run under systemd.
public struct SystemdNotifier: Sendable {
    /// Whether a service manager is listening (`NOTIFY_SOCKET` was set at start-up).
    public let isEnabled: Bool

    /// Creates a notifier for this process.
    public init(environment: [String: String]) {
        isEnabled = environment["NOTIFY_SOCKET"] != nil
    }

    /// Start-up (or a reload) is complete; `status` is shown by `systemctl status`.
    public func ready(status: String) {
        send("READY=1\nSTATUS=\(Self.oneLine(status))")
    }

    /// A reload has begun; `ready(status:)` ends it.
    public func reloading() {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        let microseconds = Int64(now.tv_sec) * 1_000_000 + Int64(now.tv_nsec) / 1000
        send("RELOADING=1\nMONOTONIC_USEC=\(microseconds)\nSTATUS=Reloading configuration")
    }

    /// Shutdown has begun.
    public func stopping(status: String) {
        send("STOPPING=1\nSTATUS=\(Self.oneLine(status))")
    }

    /// Updates the one-line status.
    public func status(_ text: String) {
        send("STATUS=\(Self.oneLine(text))")
    }

    /// Keeps the watchdog from firing. Call only after proving the daemon is making progress.
    public func watchdogPing() {
        send("WATCHDOG=1")
    }

    /// Asks for more time for the current start or stop.
    public func extendTimeout(by duration: Duration) {
        send("EXTEND_TIMEOUT_USEC=\(Self.microseconds(duration))")
    }

    /// A duration in the protocol's unit, for EXTEND_TIMEOUT_USEC= and WATCHDOG_USEC=.
    public static func microseconds(_ duration: Duration) -> Int64 {
        duration.components.seconds * 1_000_000 + duration.components.attoseconds / 1_000_000_000_000
    }

    /// The watchdog interval systemd expects pings within, if the watchdog is enabled for this process.
    ///
    /// `sd_watchdog_enabled` also checks `WATCHDOG_PID`, so a child that inherited the variables
    /// does not ping on the parent's behalf.
    public static func watchdogInterval() -> Duration? {
        var microseconds: UInt64 = 0
        guard sd_watchdog_enabled(0, &microseconds) > 0, microseconds > 0 else { return nil }
        return .microseconds(Int64(microseconds))
    }

    private func send(_ state: String) {
        guard isEnabled else { return }
        _ = sd_notify(0, state)
    }

    /// STATUS= is one line; anything after a newline would be read as another assignment.
    static func oneLine(_ text: String) -> String {
        String(text.map { $0.isNewline ? " " : $0 })
    }
}
