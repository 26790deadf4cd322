// opsd's composition root: read the configuration, set up logging, bind the control socket, and
// run the daemon's services in one ServiceGroup. Everything with behaviour lives in a module;
// this file only decides what runs, in which order.
import BuildInfo
import Checks
import ControlPlane
import DaemonRuntime
import Events
import FoundationEssentials
import Glibc
import Jobs
import Logging
import NIOPosix
import OpsConfig
import OpsDaemon
import OpsJournal
import ProcessControl
import ServiceLifecycle
import StateStore
import Supervisor
import Systemd

/// Starts opsd with `options` and runs it until it is stopped.
struct Opsd {
    let options: OpsdOptions

    /// A start-up failure: the exit status, after the reason has been logged.
    struct Exit: Error {
        let status: Int32
        /// The configuration is invalid (EX_CONFIG): the unit does not restart opsd for it.
        static let invalidConfiguration = Exit(status: 78)
        static let failure = Exit(status: 1)
    }

    /// Parses the command line, runs opsd, and returns its exit status.
    static func main(arguments: [String]) async -> Int32 {
        switch OpsdOptions.parse(arguments, environment: ProcessInfo.processInfo.environment) {
        case .help:
            print(OpsdOptions.help)
            return 0
        case .version:
            print(await VersionReport(program: "opsd", sqlite: Database.libraryVersion).text)
            return 0
        case .invalid(let problem):
            printError("opsd: \(problem)")
            return 64
        case .run(let options):
            do {
                try await Opsd(options: options).run()
                return 0
            } catch let exit as Exit {
                return exit.status
            } catch {
                printError("opsd: \(error)")
                return 1
            }
        }
    }

    func run() async throws {
        // systemd's watchdog ends a hung opsd with SIGABRT. Swift's crash backtracer catches that
        // signal, and where it cannot run (the hardened unit forbids its executable stack) the
        // process lived on until the 45 s stop timeout. Swift's own traps arrive as SIGILL/SIGTRAP,
        // so crash backtraces are unaffected.
        signal(SIGABRT, SIG_DFL)
        let environment = ProcessInfo.processInfo.environment
        let loaded = ConfigLoader.read(path: options.config)
        let output = options.logOutput ?? LogOutput.detect(environment: environment)
        output.bootstrap(identifier: "opsd", level: Logger.Level(rawValue: loaded.configuration.daemon.logLevel.rawValue) ?? .info)
        let logger = Logger(label: "opsd")

        guard loaded.diagnostics.isEmpty else {
            logger.critical("\(ConfigError(file: loaded.path, diagnostics: loaded.diagnostics)); fix it and start opsd again (`opsctl config check` lists the problems)")
            throw Exit.invalidConfiguration
        }
        let configuration = loaded.configuration
        if !Main.onEventLoops {
            logger.warning("Swift concurrency could not be moved onto NIO's event loops; opsd works, but wakes once a second (libdispatch)")
        }
        logger.info("opsd \(opsVersion) starting", metadata: [
            "config": "\(loaded.path)", "pid": "\(getpid())", "sqlite": "\(Database.libraryVersion)",
        ])

        // Each listener holds a bounded number of connections; the rest of the descriptors are
        // for workers' pipes, checks and the state database, and 1024 is not much of a rest.
        if let limit = DescriptorLimit.raiseToHardLimit() {
            SpawnRequest.limitChildDescriptors(to: limit.before)
            if limit.after < 4096 {
                logger.notice("the open-file limit is \(limit.after); raise it (LimitNOFILE= in the unit) if opsd runs many workers and checks")
            }
        }
        SpawnRequest.withholdFromChildren(ConfigSecrets.environmentVariables(in: configuration))
        let notifier = SystemdNotifier(environment: environment)
        let eventLoops = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let state = DaemonState(configuration: configuration, configPath: loaded.path, logger: logger)
        let statusLine: StatusPublisher
        let children: ChildProcesses
        do {
            statusLine = try StatusPublisher(notifier: notifier)
            children = try ChildProcesses()
        } catch {
            logger.critical("\(error)")
            throw Exit.failure
        }
        statusLine.setContext(await state.summaryContext())
        // opsd's one event stream: the domains emit into it; the journal, the history and the
        // alert routes each consume it through a bounded queue of their own.
        let events = EventBus()
        let alerts = AlertService(configuration: configuration, bus: events, children: children, logger: logger)
        // Under systemd with Delegate=yes, opsd moves into a leaf of its cgroup and gives each
        // worker a cgroup of its own beside it (issue 16); elsewhere the supervisor says why not.
        let supervisor = Supervisor(
            specs: configuration.workers, children: children,
            useJournal: output == .journal, eventLoops: eventLoops, notifier: notifier, status: statusLine, logger: logger,
            events: events, cgroups: CgroupTree.detect()
        )
        do {
            try StateDatabase.prepareDirectory(configuration.daemon.stateDirectory)
        } catch {
            logger.critical("\(error)")
            throw Exit.failure
        }
        // The one connection to state.db: the job runs, check history and backup records all use it.
        let database: StateDatabase
        do {
            database = try await StateDatabase.open(stateDirectory: configuration.daemon.stateDirectory)
        } catch {
            logger.critical("cannot open the state database in \(configuration.daemon.stateDirectory): \(error); check that the directory is writable by opsd")
            throw Exit.failure
        }
        // The journal and the history subscribe now, before any domain runs, so the workers'
        // first events and opsd_started are kept; they stop last and drain their queues.
        let recording = await EventRecording(bus: events, database: database, logger: logger)
        let store = JobRunStore(database: database)
        let jobOutput = ChildOutput(useJournal: output == .journal, eventLoops: eventLoops, logger: logger, field: "job", recentBytes: ChildOutput.recentBytes)
        let catalog = JobCatalog(children: children, keepingOutput: { jobOutput.descriptor(for: $0, keeping: $1) }, store: store, configPath: loaded.path)
        let scheduler = JobScheduler(jobs: catalog.jobs(for: configuration), store: store, logger: logger, events: events)
        let checks = await CheckService(
            configuration: configuration, database: database, children: children, events: events, logger: logger,
            workerRunningFor: { await supervisor.runningFor($0) }
        ) { worker in
            do { try await supervisor.restartIfRunning(worker) } catch {
                logger.error("cannot restart the worker a check asked for", metadata: ["worker": "\(worker)", "error": "\(error)"])
            }
        }
        let summary: @Sendable () async -> String = { await state.summary(workers: await supervisor.summary()) }
        let reloader = Reloader(
            state: state,
            apply: { configuration in
                SpawnRequest.withholdFromChildren(ConfigSecrets.environmentVariables(in: configuration))
                _ = await supervisor.apply(configuration.workers)
                statusLine.setContext(await state.summaryContext())
                _ = await scheduler.apply(catalog.jobs(for: configuration))
                await checks.apply(configuration)
                alerts.apply(configuration)
            },
            summary: summary, notifier: notifier, events: events, logger: logger
        )
        #if OPSD_TEST_HOOKS
        // Debug builds only (Package.swift): the watchdog tests stall the state actor.
        let testHooks = environment["OPSD_TEST_HOOKS"] == "1"
        #else
        let testHooks = false
        #endif
        let routes = ControlRoutes(
            state: state, supervisor: supervisor, scheduler: scheduler, reloader: reloader, checks: checks,
            database: database, events: events, eventLog: recording.endpoint, alerts: alerts.counters,
            logs: LogsEndpoint(workers: supervisor.recentOutput, jobs: jobOutput.recent, journal: output == .journal), testHooks: testHooks
        )

        let server: ControlServer
        do {
            server = try await ControlServer.bind(path: configuration.daemon.socket, handler: routes, group: eventLoops, logger: logger)
        } catch {
            logger.critical("\(error)")
            throw Exit.failure
        }
        // daemon.listen: /healthz, /metrics and the status page on TCP. Bound here, before READY=1, so a port in
        // use fails start-up with a clear message instead of a daemon that silently lacks it.
        var listener: ControlServer?
        if let listen = configuration.daemon.listen {
            let metrics = await MetricsCollector.make(
                state: state, workers: supervisor, jobs: scheduler, checks: checks, database: database, events: events,
                deliveries: { alerts.counters.snapshot.map { ($0.route, $0.delivered, $0.failed, $0.dropped) } }
            )
            do {
                listener = try await ControlServer.listen(
                    host: listen.host, port: listen.port, handler: HealthEndpoints(checks: checks, metrics: metrics, routes: routes), group: eventLoops, logger: logger
                )
            } catch {
                logger.critical("\(error); free the port or change daemon.listen")
                throw Exit.failure
            }
        }

        // Shutdown runs in reverse: readiness (STOPPING=1), watchdog, scheduled jobs, workers,
        // reload, the control socket (so `opsctl status` answers while workers stop), and the
        // event consumers last, so they record what the others emit while stopping.
        let supervision = SupervisorService(supervisor: supervisor)
        var services: [ServiceGroupConfiguration.ServiceConfiguration] = [
            .init(service: recording.journal, serviceName: "event-journal"),
            .init(service: recording.history, serviceName: "event-history"),
            .init(service: server, serviceName: "control-server"),
            // SIGTERM/SIGINT end this service, and its end shuts the group down gracefully.
            .init(
                service: SignalService(signals: Main.signals.signals, reloader: reloader, logger: logger),
                successTerminationBehavior: .gracefullyShutdownGroup, serviceName: "signals"
            ),
            .init(service: supervision, serviceName: "supervisor"),
            .init(service: scheduler, serviceName: "scheduler"),
            .init(service: checks, serviceName: "checks"),
            .init(service: alerts, serviceName: "alerts"),
        ]
        if let listener { services.append(.init(service: listener, serviceName: "health-listener")) }
        if let interval = SystemdNotifier.watchdogInterval() {
            let probes: [any LivenessProbe] = [
                ControlSocketProbe(client: ControlClient(socketPath: server.path, timeout: interval / 4)),
                StateProbe(state: state),
                SupervisorProbe(supervisor: supervisor, children: children),
                SchedulerProbe(scheduler: scheduler),
            ]
            let watchdog = WatchdogService(
                interval: interval, probes: probes, notifier: notifier, healthyStatus: summary,
                healthChanged: ProbeHealthEvents(events: events).changed, logger: logger
            )
            services.append(.init(service: watchdog, serviceName: "watchdog"))
        }
        let readiness = ReadinessService(
            summary: summary, gates: [supervision.launched], notifier: notifier, statusLine: statusLine,
            events: events, stopping: recording.endFollowers, logger: logger
        )
        services.append(.init(service: readiness, serviceName: "readiness"))

        let group = ServiceGroup(configuration: ServiceGroupConfiguration(
            services: services, logger: logger
        ))
        try await group.run()
        try await eventLoops.shutdownGracefully()
        logger.info("opsd stopped")
    }
}

/// Writes one line to stderr, before logging is set up.
func printError(_ message: String) {
    let line = Array((message + "\n").utf8)
    line.withUnsafeBytes { _ = write(STDERR_FILENO, $0.baseAddress, $0.count) }
}
