public import Events
public import Logging
public import OpsConfig
public import Systemd

/// Reloads the configuration and tells systemd: RELOADING=1, then READY=1 with the new status.
///
/// SIGHUP and `opsctl reload` both come through here, so they behave identically.
public struct Reloader: Sendable {
    let state: DaemonState
    let apply: @Sendable (Configuration) async -> Void
    let summary: @Sendable () async -> String
    let notifier: SystemdNotifier
    let events: any EventSink
    let logger: Logger

    /// Creates a reloader; `apply` hands an accepted configuration to the running services;
    /// a rejected file is reported to `events` (`reload_rejected`).
    public init(
        state: DaemonState, apply: @escaping @Sendable (Configuration) async -> Void,
        summary: @escaping @Sendable () async -> String, notifier: SystemdNotifier,
        events: any EventSink = DiscardingEventSink(), logger: Logger
    ) {
        self.state = state
        self.apply = apply
        self.summary = summary
        self.notifier = notifier
        self.events = events
        self.logger = logger
    }

    /// Re-reads the config file; a bad file leaves the old configuration in force.
    public func reload(trigger: String) async -> ReloadOutcome {
        logger.info("reloading configuration", metadata: ["trigger": "\(trigger)"])
        notifier.reloading()
        let outcome = await state.reload()
        if outcome.isApplied { await apply(await state.configuration) }
        if case .rejected(let problems) = outcome {
            let count = problems.count == 1 ? "1 problem" : "\(problems.count) problems"
            events.emit(Event(
                .reloadRejected, subject: .daemon,
                message: "reload (\(trigger)) rejected: the file has \(count); the previous configuration stays in force (`opsctl config check` lists them)",
                fields: ["problems": "\(problems.count)", "trigger": trigger]
            ))
        }
        notifier.ready(status: await summary())
        return outcome
    }
}
