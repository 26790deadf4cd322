public import Events
import FoundationEssentials
import OpsConfig

/// One message a route sends: an event, and what it means for the route's receiver.
public struct Alert: Sendable, Equatable {
    /// What the message says about its condition.
    public enum Status: String, Sendable, Equatable, Codable {
        /// A warning or critical event: something is wrong.
        case firing
        /// The ok event that ends a condition.
        case resolved
        /// Worth knowing, nothing to act on (opsd started, a restore).
        case info
    }

    /// The event.
    public var event: Event
    /// Firing, resolved or info.
    public var status: Status
    /// 0 for the first message about the event; 1, 2, … for its re-sends (`repeat:`).
    public var repeatCount: Int
    /// The host opsd runs on.
    public var host: String
    /// The route's name.
    public var route: String

    /// Creates an alert.
    public init(event: Event, status: Status, repeatCount: Int = 0, host: String, route: String) {
        self.event = event
        self.status = status
        self.repeatCount = repeatCount
        self.host = host
        self.route = route
    }

    /// The status an event has on its own.
    static func status(of event: Event) -> Status {
        switch event.severity {
        case .ok: .resolved
        case .info: .info
        case .warning, .critical: .firing
        }
    }
}

/// The generic JSON body (`format: json`, and an exec hook's stdin). Its fields are a contract,
/// documented in docs/alerts.md: add fields, never rename or remove one without raising
/// ``version``.
struct AlertBody: Encodable {
    /// The schema's version; receivers can refuse one they do not know.
    static let version = 1

    struct SubjectBody: Encodable {
        var kind: String
        var name: String
    }

    var version: Int
    var event: String
    var severity: String
    var status: String
    var `repeat`: Int
    var subject: SubjectBody
    var message: String
    var fields: [String: String]
    var time: Date
    var host: String
    var route: String

    init(_ alert: Alert) {
        version = Self.version
        event = alert.event.kind.rawValue
        severity = alert.event.severity.rawValue
        status = alert.status.rawValue
        self.repeat = alert.repeatCount
        subject = SubjectBody(kind: alert.event.subject.kind.rawValue, name: alert.event.subject.name)
        message = alert.event.message
        fields = alert.event.fields
        time = alert.event.time
        host = alert.host
        route = alert.route
    }

    /// The body as sorted-key JSON with ISO 8601 times.
    static func encode(_ alert: Alert) -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .iso8601
        encoder.outputFormatting = .sortedKeys
        return (try? encoder.encode(AlertBody(alert))).map(Array.init) ?? []
    }
}

/// The bodies and variables each receiver gets.
enum AlertRendering {
    /// The one line chat receivers (Slack, Mattermost, Discord) show: what, how bad, where.
    /// `[CRITICAL] web1: worker web failed … (worker_fatal)`; a re-send says "still", a resolved
    /// message "RESOLVED".
    static func line(_ alert: Alert) -> String {
        let label = switch alert.status {
        case .resolved: "RESOLVED"
        case .info: "INFO"
        case .firing: alert.event.severity.rawValue.uppercased() + (alert.repeatCount > 0 ? ", still" : "")
        }
        return "[\(label)] \(alert.host): \(alert.event.message) (\(alert.event.kind.rawValue))"
    }

    /// The body of a webhook in `format`.
    static func webhookBody(_ alert: Alert, format: AlertSpec.WebhookFormat) -> [UInt8] {
        switch format {
        case .json:
            return AlertBody.encode(alert)
        case .slack:
            return chatBody(key: "text", text: String(line(alert).prefix(3000)))
        case .discord:
            // Discord refuses content longer than 2000 characters.
            return chatBody(key: "content", text: String(line(alert).prefix(2000)))
        }
    }

    private static func chatBody(key: String, text: String) -> [UInt8] {
        (try? JSONEncoder().encode([key: text])).map(Array.init) ?? []
    }

    /// An exec hook's environment: `OPS_EVENT`, `OPS_SEVERITY`, `OPS_STATUS`, `OPS_REPEAT`,
    /// `OPS_SUBJECT_KIND`, `OPS_SUBJECT`, the subject under its own sort (`OPS_CHECK=disk-root`,
    /// `OPS_WORKER=web`), `OPS_MESSAGE`, `OPS_TIME`, `OPS_HOST`, `OPS_ROUTE`, and each field as
    /// `OPS_` + its name in capitals (`OPS_STATE`, `OPS_EXIT_CODE`). The fixed names win over a
    /// field of the same name.
    static func environment(_ alert: Alert) -> [String: String] {
        var variables: [String: String] = [:]
        for (name, value) in alert.event.fields {
            let key = "OPS_" + String(name.uppercased().map { $0.isASCII && ($0.isLetter || $0.isNumber) ? $0 : "_" })
            variables[key] = value
        }
        let event = alert.event
        let fixed = [
            "OPS_EVENT": event.kind.rawValue, "OPS_SEVERITY": event.severity.rawValue, "OPS_STATUS": alert.status.rawValue,
            "OPS_REPEAT": "\(alert.repeatCount)", "OPS_SUBJECT_KIND": event.subject.kind.rawValue, "OPS_SUBJECT": event.subject.name,
            "OPS_\(event.subject.kind.rawValue.uppercased())": event.subject.name, "OPS_MESSAGE": event.message,
            "OPS_TIME": event.time.ISO8601Format(), "OPS_HOST": alert.host, "OPS_ROUTE": alert.route,
            "OPS_VERSION": "\(AlertBody.version)",
        ]
        variables.merge(fixed) { $1 }
        return variables
    }
}
