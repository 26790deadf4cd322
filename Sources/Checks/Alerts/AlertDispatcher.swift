import FoundationEssentials
import Glibc
public import Logging
public import OpsConfig
public import Scheduling
import Synchronization
import DaemonRuntime
import HTTPClient

/// Sends confirmed state changes to the configured alert routes: webhooks (a JSON POST, retried
/// with backoff) and exec hooks (a command with OPS_CHECK, OPS_STATE, … in its environment).
///
/// Each route has its own queue and sends in order, so a "crit" and the "recover" after it never
/// arrive swapped, and a slow webhook never holds up an exec hook. Each route also has a rate
/// limit (`limit: 20 in 10m` by default): alerts beyond it are dropped and logged, so a flapping
/// check cannot flood a pager. Webhook URLs carry their secret in the path (Slack, Discord), so
/// logs name only the scheme and host.
public final class AlertDispatcher: Sendable {
    private let routes: [Route]
    private let logger: Logger

    /// How a webhook that failed is tried again: after 1 s, 4 s and 15 s, then given up.
    public static let webhookRetry = RetryPolicy(initial: .seconds(1), factor: 4, maximum: .seconds(15), retries: 3)

    /// Creates the dispatcher; `retryDelays` are the waits between webhook attempts
    /// (``webhookRetry``'s unless a test wants shorter ones).
    public init(
        routes specs: [AlertSpec], environment: CheckEnvironment, logger: Logger,
        retryDelays: [Duration] = AlertDispatcher.webhookRetry.delays, hostname: String? = nil
    ) {
        self.logger = logger
        let hostname = hostname ?? ProcessInfo.processInfo.hostName
        self.routes = specs.map { Route(spec: $0, environment: environment, retryDelays: retryDelays, hostname: hostname, logger: logger) }
    }

    /// Queues `change` for every route that wants its event; returns at once.
    public func send(_ change: StateChange) {
        guard let event = Self.event(for: change) else { return }
        for route in routes where route.spec.on.contains(event) {
            route.enqueue(change, event: event)
        }
    }

    /// Delivers queued alerts until cancelled.
    public func run() async {
        await withDiscardingTaskGroup { group in
            for route in routes {
                group.addTask { await route.deliver() }
            }
        }
    }

    /// The alert event of a change: recover for a return to OK from a known bad state; none for
    /// a check's first confirmed OK.
    static func event(for change: StateChange) -> AlertSpec.Event? {
        switch change.state {
        case .ok: change.previous == nil ? nil : .recover
        case .warn: .warn
        case .crit: .crit
        case .unknown: .unknown
        }
    }
}

/// The JSON body of a webhook.
struct AlertPayload: Codable, Sendable {
    var check: String
    var kind: String
    var event: String
    var state: String
    var previousState: String?
    var message: String
    var value: Double?
    var unit: String?
    var time: Date
    var host: String
}

/// One alert route with its queue and rate limit.
private final class Route: Sendable {
    let spec: AlertSpec
    private let environment: CheckEnvironment
    private let retryDelays: [Duration]
    private let hostname: String
    private let logger: Logger
    private let stream: AsyncStream<(StateChange, AlertSpec.Event)>
    private let continuation: AsyncStream<(StateChange, AlertSpec.Event)>.Continuation
    private let sent = Mutex<[ContinuousClock.Instant]>([])

    init(spec: AlertSpec, environment: CheckEnvironment, retryDelays: [Duration], hostname: String, logger: Logger) {
        self.spec = spec
        self.environment = environment
        self.retryDelays = retryDelays
        self.hostname = hostname
        self.logger = logger
        (stream, continuation) = AsyncStream.makeStream(bufferingPolicy: .bufferingNewest(1000))
    }

    var name: String {
        switch spec.target {
        case .webhook(let url): "webhook \(Self.endpoint(url))"
        case .exec(let command): "exec \(command.first ?? "")"
        }
    }

    func enqueue(_ change: StateChange, event: AlertSpec.Event) {
        let now = ContinuousClock.now
        let allowed = sent.withLock { times in
            times.removeAll { now - $0 > spec.limit.window }
            guard times.count < spec.limit.count else { return false }
            times.append(now)
            return true
        }
        guard allowed else {
            logger.warning("alert dropped: the route's rate limit is reached", metadata: [
                "route": "\(name)", "check": "\(change.check)", "event": "\(event.rawValue)", "limit": "\(spec.limit)",
            ])
            return
        }
        continuation.yield((change, event))
    }

    func deliver() async {
        for await (change, event) in stream {
            switch spec.target {
            case .webhook(let url): await post(change, event: event, to: url)
            case .exec(let command): await execute(change, event: event, command: command)
            }
        }
    }

    private func post(_ change: StateChange, event: AlertSpec.Event, to url: String) async {
        let payload = AlertPayload(
            check: change.check, kind: change.kind, event: event.rawValue, state: change.state.rawValue,
            previousState: change.previous?.rawValue, message: change.result.message, value: change.result.value,
            unit: change.result.unit, time: change.result.time, host: hostname
        )
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .iso8601
        encoder.keyEncodingStrategy = .convertToSnakeCase
        encoder.outputFormatting = .sortedKeys
        guard let body = try? encoder.encode(payload) else { return }
        let endpoint = Self.endpoint(url)
        for attempt in 0...retryDelays.count {
            if attempt > 0 {
                do { try await Task.sleep(for: retryDelays[attempt - 1], clock: .loop) } catch { return }
            }
            var problem: String
            do {
                let request = HTTPFetcher.Request(
                    url: url, method: "POST", headers: [("Content-Type", "application/json")], body: Array(body), bodyLimit: 64 * 1024
                )
                let response = try await environment.http.fetch(request, deadline: .now + .seconds(10))
                if (200..<300).contains(response.status) {
                    logger.info("alert sent", metadata: ["route": "webhook \(endpoint)", "check": "\(change.check)", "event": "\(event.rawValue)"])
                    return
                }
                problem = "answered \(response.status)"
            } catch is CancellationError {
                return
            } catch {
                // The log handler redacts passwords in URLs; the webhook's secret path goes here.
                problem = "\(error)".replacing(url, with: endpoint)
            }
            let last = attempt == retryDelays.count
            logger.log(level: last ? .error : .warning, last ? "alert not delivered; giving up" : "alert not delivered; will retry", metadata: [
                "route": "webhook \(endpoint)", "check": "\(change.check)", "attempt": "\(attempt + 1)", "problem": "\(problem)",
            ])
        }
    }

    private func execute(_ change: StateChange, event: AlertSpec.Event, command: [String]) async {
        let variables = [
            "OPS_CHECK": change.check, "OPS_KIND": change.kind, "OPS_EVENT": event.rawValue, "OPS_STATE": change.state.rawValue,
            "OPS_PREVIOUS_STATE": change.previous?.rawValue ?? "", "OPS_MESSAGE": change.result.message,
            "OPS_VALUE": change.result.value.map { PerfDatum.number($0) } ?? "", "OPS_UNIT": change.result.unit ?? "",
            "OPS_TIME": change.result.time.ISO8601Format(), "OPS_HOST": hostname,
        ]
        let runner = environment.commands
        let outcome = await withDeadline(.now + .seconds(30)) { try await runner.run(command, environment: variables) }
        switch outcome {
        case .success(let result)? where result.status.isSuccess:
            logger.info("alert hook ran", metadata: ["route": "\(name)", "check": "\(change.check)", "event": "\(event.rawValue)"])
        case .success(let result)?:
            logger.error("alert hook failed", metadata: [
                "route": "\(name)", "check": "\(change.check)", "status": "\(result.status)", "output": "\(String(result.output.prefix(500)))",
            ])
        case .failure(let error)?:
            logger.error("alert hook could not run", metadata: ["route": "\(name)", "error": "\(error)"])
        case nil:
            logger.error("alert hook killed after 30s", metadata: ["route": "\(name)", "check": "\(change.check)"])
        }
    }

    /// `https://hooks.example.com/…`: the scheme and host only; the path is the secret.
    static func endpoint(_ url: String) -> String {
        guard let components = URLComponents(string: url), let scheme = components.scheme, let host = components.host else { return "(webhook)" }
        return "\(scheme)://\(host)\(components.port.map { ":\($0)" } ?? "")/…"
    }
}
