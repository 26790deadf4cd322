public import EventLog
import Events
public import FoundationEssentials
public import OpsAPI
public import Scheduling

extension EventRecord {
    /// The API form of an event from the history.
    public init(_ stored: StoredEvent) {
        let event = stored.event
        self.init(
            id: stored.id, time: event.time, kind: event.kind.rawValue, severity: event.severity.rawValue,
            subjectKind: event.subject.kind.rawValue, subject: event.subject.name, message: event.message, fields: event.fields
        )
    }
}

/// The `since` of `GET /v1/events` and `opsctl events --since`: an instant, or how far back from now.
public enum EventSince {
    /// `text` as an instant: an ISO-8601 time (`2026-12-07T09:00:00Z`; without an offset it is
    /// read in `zone`) or a duration back from `now` (`90m`, `2h`, `1d`). Nil when it is neither.
    public static func parse(_ text: String, now: Date, zone: Zone) -> Date? {
        if let duration = DurationText.parse(text) { return now.addingTimeInterval(-seconds(duration)) }
        return ISOTime.parse(text, zone: zone)
    }

    /// The sentence for a `since` that ``parse(_:now:zone:)`` refused; `option` is written before the text as it is (`since=`, `--since `).
    public static func problem(_ text: String, option: String) -> String {
        "\(option)\(text) is neither a time nor a duration; write e.g. 2026-12-07T09:00:00Z, \"2026-12-07 09:00\" or 2h"
    }
}
