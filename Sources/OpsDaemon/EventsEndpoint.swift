public import ControlPlane
public import EventLog
import FoundationEssentials
import OpsAPI
import Scheduling
import WireMapping

/// `GET /v1/events?since=T&after=ID&limit=N&wait=SECONDS`: opsd's event history, oldest first,
/// as `[EventRecord]`, and the long poll `opsctl events -f` follows it with.
///
/// - `since`: an ISO-8601 time (UTC unless it has an offset) or a duration back from now (`2h`);
/// - `after`: only events with a larger id (a follower passes the last id it printed);
/// - `limit`: the newest N of the matching events (1…10000, default 100);
/// - `wait`: up to this many seconds (0…60), answer only once a matching event is there; the
///   answer is `[]` when none came. Waiting costs nothing while no event arrives: the history's
///   writer wakes the request (`EventFeed`), nothing polls. A wait ends when opsd stops, with 503.
public struct EventsEndpoint: Sendable {
    let history: EventHistory
    let feed: EventFeed

    static let maximumWait = EventQueryLimits.maximumWait
    static let maximumLimit = EventQueryLimits.maximumLimit

    /// Serves `history`, woken by `feed`.
    public init(history: EventHistory, feed: EventFeed) {
        self.history = history
        self.feed = feed
    }

    /// Answers one request with `query`.
    public func handle(query: [String: String]) async -> ControlResponse {
        let parameters: Parameters
        switch Parameters.parse(query, now: Date()) {
        case .success(let parsed): parameters = parsed
        case .failure(let problem): return .error(problem.description, status: 400)
        }
        let deadline = ContinuousClock.now + .seconds(parameters.wait)
        var cursor = parameters.after
        do {
            while true {
                // Read before the query: every event up to `stored` is in what the query sees.
                let stored = feed.newestID
                let events = try await history.recent(since: parameters.since, after: cursor, limit: parameters.limit)
                if !events.isEmpty || parameters.wait == 0 { return .json(events.map(EventRecord.init)) }
                if feed.isClosed { return .error("opsd is stopping; no more events will come (start opsd and follow again)", status: 503) }
                // Events up to `stored` that `since` left out need not be looked at again.
                cursor = max(cursor, stored)
                let remaining = deadline - ContinuousClock.now
                guard remaining > .zero, await feed.wait(after: cursor, timeout: remaining) else {
                    return feed.isClosed
                        ? .error("opsd is stopping; no more events will come (start opsd and follow again)", status: 503)
                        : .json([EventRecord]())
                }
            }
        } catch {
            return .error("cannot read the event history: \(error)", status: 500)
        }
    }

    /// A request's parameters, checked.
    struct Parameters: Equatable {
        var since: Date?
        var after: Int64 = 0
        var limit = 100
        var wait = 0

        static func parse(_ query: [String: String], now: Date) -> Result<Parameters, BadParameter> {
            var parameters = Parameters()
            let known: Set = ["since", "after", "limit", "wait"]
            if let unknown = query.keys.sorted().first(where: { !known.contains($0) }) {
                return .failure(BadParameter("unknown parameter \(unknown); /v1/events takes since, after, limit and wait"))
            }
            if let text = query["since"] {
                guard let since = EventSince.parse(text, now: now, zone: .utc) else {
                    return .failure(BadParameter(EventSince.problem(text, option: "since=")))
                }
                parameters.since = since
            }
            if let text = query["after"] {
                guard let after = Int64(text), after >= 0 else {
                    return .failure(BadParameter("after=\(text) is not an event id; pass the id of the last event seen (0 or more)"))
                }
                parameters.after = after
            }
            if let text = query["limit"] {
                guard let limit = Int(text), (1...maximumLimit).contains(limit) else {
                    return .failure(BadParameter("limit=\(text) must be a whole number from 1 to \(maximumLimit)"))
                }
                parameters.limit = limit
            }
            if let text = query["wait"] {
                guard let wait = Int(text), (0...maximumWait).contains(wait) else {
                    return .failure(BadParameter("wait=\(text) must be a whole number of seconds from 0 to \(maximumWait)"))
                }
                parameters.wait = wait
            }
            return .success(parameters)
        }
    }

    /// A parameter that is not what the endpoint takes, in one sentence.
    struct BadParameter: Error, Equatable, CustomStringConvertible {
        let description: String
        init(_ description: String) { self.description = description }
    }
}
