import Checks
import Events
import Foundation
import Logging
import OpsConfig
@testable import OpsDaemon
import Synchronization
import Testing

/// Keeps what is emitted.
private final class RecordingSink: EventSink {
    private let events = Mutex<[Event]>([])
    var all: [Event] { events.withLock { $0 } }
    func emit(_ event: Event) { events.withLock { $0.append(event) } }
}

@Suite("checks emit their confirmed state changes as events")
struct CheckEventTests {
    @Test("a check's changes become check_crit and check_recover with state, previous_state, value, unit and check_kind; its first confirmed OK emits nothing")
    func changes() async {
        let sink = RecordingSink()
        let monitor = CheckMonitor(
            specs: [CheckSpec(name: "disk-root", kind: .memory)], history: nil, logger: Logger(label: "test"),
            onChange: { change in CheckEvents.event(for: change).map(sink.emit) }
        )
        for state in [CheckState.ok, .ok, .crit, .crit, .unknown, .ok, .ok] {
            let value: Double? = state == .crit ? 93 : 41.5
            await monitor.record("disk-root", CheckResult(state: state, message: "/ is \(value ?? 0)% full", value: value, unit: "%", time: Date(), durationSeconds: 0))
        }
        #expect(sink.all.map(\.kind) == [.checkCrit, .checkUnknown, .checkRecover])
        let crit = sink.all[0]
        #expect(crit.subject == Subject(.check, "disk-root"))
        #expect(crit.severity == .critical)
        #expect(crit.message == "check disk-root is CRITICAL: / is 93.0% full")
        #expect(crit.fields == ["state": "crit", "previous_state": "ok", "value": "93", "unit": "%", "check_kind": "memory"])
        let recover = sink.all[2]
        #expect(recover.severity == .ok)
        #expect(recover.fields["previous_state"] == "unknown")
        #expect(recover.fields["value"] == "41.5")
        #expect(recover.message.hasPrefix("check disk-root is OK again: "))
    }
}
