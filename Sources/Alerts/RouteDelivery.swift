import DaemonRuntime
import Events
import FoundationEssentials
public import HTTPClient
import Logging
import OpsConfig
public import ProcessControl
public import Scheduling
import Synchronization

/// How alerts leave opsd: the HTTP client of webhooks and the runner of exec hooks, shared by
/// every route.
public struct AlertSenders: Sendable {
    /// Posts webhooks.
    public var http: HTTPFetcher
    /// Runs exec hooks (opsd's `ChildProcesses` behind it).
    public var commands: CommandRunner
    /// The waits between webhook attempts.
    public var retryDelays: [Duration]
    /// How long one webhook attempt may take.
    public var webhookTimeout: Duration
    /// How long a hook may run before its process group is killed.
    public var hookTimeout: Duration

    /// How a webhook that failed is tried again: after 1 s, 4 s and 15 s, then given up.
    public static let webhookRetry = RetryPolicy(initial: .seconds(1), factor: 4, maximum: .seconds(15), retries: 3)

    /// Creates the senders; tests shorten the waits.
    public init(
        http: HTTPFetcher = HTTPFetcher(), commands: CommandRunner, retryDelays: [Duration] = AlertSenders.webhookRetry.delays,
        webhookTimeout: Duration = .seconds(10), hookTimeout: Duration = .seconds(30)
    ) {
        self.http = http
        self.commands = commands
        self.retryDelays = retryDelays
        self.webhookTimeout = webhookTimeout
        self.hookTimeout = hookTimeout
    }
}

/// One route's queue, rate limit and sender. Alerts leave in order (a "crit" and the
/// "resolved" after it never arrive swapped), one at a time, from a bounded queue: a receiver
/// that is slow or down fills its own queue, whose oldest alerts are dropped and counted, and
/// holds up nothing else.
final class RouteDelivery: Sendable {
    let spec: AlertSpec
    private let senders: AlertSenders
    private let counters: AlertCounters
    private let logger: Logger
    private let stream: AsyncStream<Alert>
    private let continuation: AsyncStream<Alert>.Continuation
    private let sent = Mutex<[ContinuousClock.Instant]>([])
    /// How many alerts of each subject wait in the queue (not yet taken for delivery).
    private let waiting = Mutex<[Subject: Int]>([:])

    init(spec: AlertSpec, senders: AlertSenders, counters: AlertCounters, capacity: Int, logger: Logger) {
        self.spec = spec
        self.senders = senders
        self.counters = counters
        self.logger = logger
        (stream, continuation) = AsyncStream.makeStream(bufferingPolicy: .bufferingNewest(max(1, capacity)))
        counters.register(spec.name)
    }

    /// The receiver as logs may show it: a webhook's scheme and host (its path is its secret),
    /// an exec hook's program.
    var receiver: String {
        switch spec.target {
        case .webhook(let url): "webhook \(Self.endpoint(url))"
        case .exec(let command): "exec \(command.first ?? "")"
        }
    }

    /// Queues `alert`; returns at once. Over the rate limit, or pushing the oldest out of a full
    /// queue, an alert is dropped, counted and logged.
    func enqueue(_ alert: Alert) {
        let now = ContinuousClock.now
        let allowed = sent.withLock { times in
            times.removeAll { now - $0 > spec.limit.window }
            guard times.count < spec.limit.count else { return false }
            times.append(now)
            return true
        }
        guard allowed else {
            counters.add(spec.name) { $0.dropped += 1 }
            logger.warning("alert dropped: the route's rate limit is reached", metadata: metadata(alert, ["limit": "\(spec.limit)"]))
            return
        }
        waiting.withLock { $0[alert.event.subject, default: 0] += 1 }
        if case .dropped(let oldest) = continuation.yield(alert) {
            taken(oldest)
            counters.add(spec.name) { $0.dropped += 1 }
            logger.warning("alert dropped: the route's queue is full because its receiver is slow or down", metadata: metadata(oldest, [:]))
        }
    }

    /// Whether an alert about `subject` still waits in the queue: a repeat due meanwhile would
    /// only pile up behind it (the receiver is slow or down), so the router skips it.
    func isWaiting(_ subject: Subject) -> Bool {
        waiting.withLock { $0[subject, default: 0] > 0 }
    }

    private func taken(_ alert: Alert) {
        waiting.withLock { counts in
            let left = counts[alert.event.subject, default: 1] - 1
            counts[alert.event.subject] = left > 0 ? left : nil
        }
    }

    /// Ends the queue: ``deliver()`` sends what is queued and returns.
    func finish() {
        continuation.finish()
    }

    /// Sends queued alerts until the queue is finished and empty, or the task is cancelled.
    func deliver() async {
        for await alert in stream {
            taken(alert)
            if Task.isCancelled { return }
            let delivered = switch spec.target {
            case .webhook(let url): await post(alert, to: url)
            case .exec(let command): await execute(alert, command: command)
            }
            guard let delivered else { return }
            counters.add(spec.name) { delivered ? ($0.delivered += 1) : ($0.failed += 1) }
        }
    }

    /// True when the receiver took it, false when given up on, nil when cancelled.
    private func post(_ alert: Alert, to url: String) async -> Bool? {
        let body = AlertRendering.webhookBody(alert, format: spec.format)
        let endpoint = Self.endpoint(url)
        let delays = senders.retryDelays
        for attempt in 0...delays.count {
            if attempt > 0 {
                do { try await Task.sleep(for: delays[attempt - 1], clock: .loop) } catch { return nil }
            }
            var problem: String
            do {
                let request = HTTPFetcher.Request(
                    url: url, method: "POST", headers: [("Content-Type", "application/json")], body: body, bodyLimit: 64 * 1024
                )
                let response = try await senders.http.fetch(request, deadline: .now + senders.webhookTimeout)
                if (200..<300).contains(response.status) {
                    logger.info("alert sent", metadata: metadata(alert, [:]))
                    return true
                }
                problem = "answered \(response.status)"
            } catch is CancellationError {
                return nil
            } catch {
                // The log handler redacts passwords in URLs; the webhook's secret path goes here.
                problem = "\(error)".replacing(url, with: endpoint)
            }
            let last = attempt == delays.count
            logger.log(
                level: last ? .error : .warning, last ? "alert not delivered; giving up" : "alert not delivered; will retry",
                metadata: metadata(alert, ["attempt": "\(attempt + 1)", "problem": "\(problem)"])
            )
        }
        return false
    }

    private func execute(_ alert: Alert, command: [String]) async -> Bool? {
        let runner = senders.commands
        let input = AlertBody.encode(alert) + [UInt8(ascii: "\n")]
        let variables = AlertRendering.environment(alert)
        let outcome = await withDeadline(.now + senders.hookTimeout) {
            try await runner.run(command, environment: variables, input: input)
        }
        if Task.isCancelled { return nil }
        switch outcome {
        case .success(let result)? where result.status.isSuccess:
            logger.info("alert hook ran", metadata: metadata(alert, [:]))
            return true
        case .success(let result)?:
            logger.error("alert hook failed", metadata: metadata(alert, [
                "status": "\(result.status)", "output": "\(String(result.output.prefix(500)))",
            ]))
        case .failure(let error)?:
            logger.error("alert hook could not run", metadata: metadata(alert, ["error": "\(error)"]))
        case nil:
            logger.error("alert hook killed after \(senders.hookTimeout)", metadata: metadata(alert, [:]))
        }
        return false
    }

    private func metadata(_ alert: Alert, _ extra: Logger.Metadata) -> Logger.Metadata {
        var metadata: Logger.Metadata = [
            "route": "\(spec.name)", "receiver": "\(receiver)", "event": "\(alert.event.kind.rawValue)",
            "subject": "\(alert.event.subject)", "status": "\(alert.status.rawValue)",
        ]
        metadata.merge(extra) { $1 }
        return metadata
    }

    /// `https://hooks.example.com/…`: the scheme and host only; the path is the secret.
    static func endpoint(_ url: String) -> String {
        guard let components = URLComponents(string: url), let scheme = components.scheme, let host = components.host else { return "(webhook)" }
        return "\(scheme)://\(host)\(components.port.map { ":\($0)" } ?? "")/…"
    }
}
