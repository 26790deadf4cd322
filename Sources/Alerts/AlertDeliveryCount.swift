import Synchronization

/// What one route did with its alerts since opsd started: for `/metrics` and `opsctl status`.
public struct AlertDeliveryCount: Sendable, Equatable {
    /// The route's name (`name:`, or its key path such as `alerts[0]`).
    public var route: String
    /// Alerts the receiver accepted (a 2xx answer, a hook that exited 0).
    public var delivered: Int
    /// Alerts given up on after the retries (a webhook), or whose hook failed.
    public var failed: Int
    /// Alerts never attempted: the route's queue was full (its receiver is slow or down), or the
    /// route's rate limit was reached.
    public var dropped: Int

    /// Creates a count.
    public init(route: String, delivered: Int = 0, failed: Int = 0, dropped: Int = 0) {
        self.route = route
        self.delivered = delivered
        self.failed = failed
        self.dropped = dropped
    }
}

/// The delivery counts of every route, kept across reloads (a route keeps its counts as long as
/// its name stays), as Prometheus counters must be.
public final class AlertCounters: Sendable {
    private let counts = Mutex<[String: AlertDeliveryCount]>([:])

    /// Creates counters with no route yet.
    public init() {}

    /// Every route's counts, sorted by route name.
    public var snapshot: [AlertDeliveryCount] {
        counts.withLock { $0.values.sorted { $0.route < $1.route } }
    }

    /// The counts of `route`; zero for a route that has done nothing yet.
    public func count(of route: String) -> AlertDeliveryCount {
        counts.withLock { $0[route] } ?? AlertDeliveryCount(route: route)
    }

    /// Makes `route` appear (with zeros) before it has done anything, so `/metrics` shows it.
    func register(_ route: String) {
        counts.withLock { counts in
            if counts[route] == nil { counts[route] = AlertDeliveryCount(route: route) }
        }
    }

    func add(_ route: String, _ change: (inout AlertDeliveryCount) -> Void) {
        counts.withLock { counts in
            var count = counts[route] ?? AlertDeliveryCount(route: route)
            change(&count)
            counts[route] = count
        }
    }
}
