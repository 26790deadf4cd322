public import FoundationEssentials
import Glibc
public import Logging
public import OpsConfig
import Scheduling
import Systemd

/// What opsd knows about itself: the configuration in force and how it got there.
///
/// An actor, so a reload (from SIGHUP or `opsctl reload`) and a status request never see half a
/// configuration; the watchdog's `StateProbe` calls into it to prove the actor is not stuck.
public actor DaemonState {
    /// The configuration in force.
    public private(set) var configuration: Configuration
    private let configPath: String
    private let startedAt = Date()
    private let startedInstant = ContinuousClock.now
    private var loadedAt = Date()
    private var reloads = 0
    private var lastReloadErrors: [String]?
    private let logger: Logger

    /// Creates the state for a daemon started with `configuration`, read from `configPath`.
    public init(configuration: Configuration, configPath: String, logger: Logger) {
        self.configuration = configuration
        self.configPath = configPath
        self.logger = logger
    }

    /// opsd itself at this moment: the part of `opsctl status` that is not workers, checks or backups.
    public func snapshot() -> DaemonSnapshot {
        DaemonSnapshot(
            version: opsVersion, pid: getpid(), startedAt: startedAt, uptime: ContinuousClock.now - startedInstant,
            configPath: configPath, configLoadedAt: loadedAt, reloads: reloads, lastReloadErrors: lastReloadErrors,
            configuration: configuration
        )
    }

    /// The one-line summary for systemd's STATUS=; `workers` is the supervisor's part.
    public func summary(workers: String) -> String {
        StatusPublisher.compose(workers: workers, context: summaryContext())
    }

    /// The parts of the STATUS= line besides the workers: checks, backup, a rejected reload.
    public func summaryContext() -> [String] {
        var parts = [
            Self.count(configuration.checks.count, "check"),
            configuration.backup == nil ? "no backup" : "backup configured",
        ]
        if let errors = lastReloadErrors {
            parts.append("last reload rejected (\(Self.count(errors.count, "problem")); previous config in force)")
        }
        return parts
    }

    /// Re-reads the configuration file; applies it only if it is valid in full.
    public func reload() -> ReloadOutcome {
        let result = ConfigLoader.read(path: configPath)
        guard result.diagnostics.isEmpty else {
            let problems = result.diagnostics.map(\.description)
            lastReloadErrors = problems
            logger.error("configuration reload rejected; the previous configuration stays in force", metadata: [
                "config": "\(configPath)", "problems": "\(problems.joined(separator: "; "))",
            ])
            return .rejected(problems: problems)
        }
        let new = result.configuration
        let old = configuration
        let changed = new.changedSections(from: old).map(\.rawValue)
        let needsRestart = Self.settingsNeedingRestart(old: old.daemon, new: new.daemon)
        configuration = new
        // The daemon section stays as started: every setting in it waits for a restart.
        configuration.daemon = old.daemon
        loadedAt = Date()
        reloads += 1
        lastReloadErrors = nil
        logger.notice("configuration reloaded", metadata: [
            "config": "\(configPath)", "changed": "\(changed.isEmpty ? "nothing" : changed.joined(separator: ", "))",
        ])
        if !needsRestart.isEmpty {
            logger.warning("some changes take effect only after a restart of opsd", metadata: ["settings": "\(needsRestart.joined(separator: ", "))"])
        }
        return .applied(changedSections: changed, needsRestart: needsRestart)
    }

    /// The `daemon:` settings that differ, by key path. Every one is taken at start-up: the socket
    /// and the state directory because moving them live would strand clients and leave a second
    /// database; `listen` because the listener is bound before READY=1, so a port in use stops
    /// start-up with a clear error, while a reload is accepted whole before anything is bound (a
    /// new port found taken after that would leave the daemon half-reloaded), and because the
    /// health endpoint's scrapers would see it vanish; the log level because the log handlers are
    /// set up once.
    static func settingsNeedingRestart(old: DaemonSettings, new: DaemonSettings) -> [String] {
        var settings: [String] = []
        if old.socket != new.socket { settings.append("daemon.socket") }
        if old.stateDirectory != new.stateDirectory { settings.append("daemon.state_dir") }
        if old.listen != new.listen { settings.append("daemon.listen") }
        if old.logLevel != new.logLevel { settings.append("daemon.log_level") }
        return settings
    }

    /// Does nothing, on the actor: answering at all is the proof of liveness.
    public func heartbeat() {}

    #if OPSD_TEST_HOOKS
    /// Blocks the actor's thread, to prove in tests that the watchdog notices a stuck daemon
    /// (debug builds only).
    func stallForTesting(seconds: Int) {
        logger.warning("test hook: stalling the daemon state", metadata: ["seconds": "\(seconds)"])
        sleep(UInt32(seconds))
    }
    #endif

    private static func count(_ number: Int, _ noun: String) -> String {
        "\(number) \(noun)\(number == 1 ? "" : "s")"
    }
}

/// What `DaemonState.snapshot()` reports.
public struct DaemonSnapshot: Sendable {
    /// opsd's version.
    public var version: String
    /// opsd's process id.
    public var pid: Int32
    /// When opsd started.
    public var startedAt: Date
    /// How long it has run.
    public var uptime: Duration
    /// The configuration file.
    public var configPath: String
    /// When that file was last loaded successfully.
    public var configLoadedAt: Date
    /// Successful reloads since start.
    public var reloads: Int
    /// The problems of the last reload, if it was rejected.
    public var lastReloadErrors: [String]?
    /// The configuration in force.
    public var configuration: Configuration
}

/// What a reload did.
public enum ReloadOutcome: Sendable, Equatable {
    /// The new configuration is in force; `needsRestart` names settings that wait for a restart.
    case applied(changedSections: [String], needsRestart: [String])
    /// The file had problems; the previous configuration stays in force.
    case rejected(problems: [String])

    /// Whether the new configuration is in force.
    public var isApplied: Bool {
        if case .applied = self { return true }
        return false
    }
}
