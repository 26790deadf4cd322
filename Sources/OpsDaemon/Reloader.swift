public import ControlPlane
public import Logging
public import Systemd

/// Reloads the configuration and tells systemd: RELOADING=1, then READY=1 with the new status.
///
/// SIGHUP and `opsctl reload` both come through here, so they behave identically.
public struct Reloader: Sendable {
    let state: DaemonState
    let notifier: SystemdNotifier
    let logger: Logger

    /// Creates a reloader.
    public init(state: DaemonState, notifier: SystemdNotifier, logger: Logger) {
        self.state = state
        self.notifier = notifier
        self.logger = logger
    }

    /// Re-reads the config file; a bad file leaves the old configuration in force.
    public func reload(trigger: String) async -> ReloadReport {
        logger.info("reloading configuration", metadata: ["trigger": "\(trigger)"])
        notifier.reloading()
        let report = await state.reload()
        notifier.ready(status: await state.summary())
        return report
    }
}
