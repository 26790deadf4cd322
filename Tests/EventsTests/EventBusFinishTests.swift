import Events
import Testing

@Suite("Ending a consumer's stream")
struct EventBusFinishTests {
    @Test("finish(name) hands that consumer what is queued, then ends its stream; other consumers keep theirs")
    func finishDrains() async {
        let bus = EventBus()
        let history = bus.subscribe("history")
        let alerts = bus.subscribe("alerts")
        for name in ["a", "b"] { bus.emit(Event(.jobFailed, subject: Subject(.job, name), message: "job \(name) failed")) }
        bus.finish("history")
        var drained: [String] = []
        // Without finish this loop would wait for a third event forever.
        for await event in history { drained.append(event.subject.name) }
        #expect(drained == ["a", "b"])
        bus.emit(Event(.jobFailed, subject: Subject(.job, "c"), message: "job c failed"))
        var kept: [String] = []
        for await event in alerts {
            kept.append(event.subject.name)
            if kept.count == 3 { break }
        }
        #expect(kept == ["a", "b", "c"])
    }
}
