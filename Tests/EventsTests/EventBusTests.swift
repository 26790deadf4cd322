import Events
import Testing

@Suite("The event stream")
struct EventBusTests {
    func event(_ kind: EventKind, _ name: String = "web") -> Event {
        Event(kind, subject: Subject(kind.subjectKind, name), message: "\(kind.rawValue) \(name)")
    }

    @Test("every consumer gets every event, in order, and the bus counts them by kind")
    func fanOut() async {
        let bus = EventBus()
        let alerts = bus.subscribe("alerts")
        let journal = bus.subscribe("journal")
        bus.emit(event(.workerExited))
        bus.emit(event(.workerFatal))
        bus.emit(event(.workerExited, "api"))
        for stream in [alerts, journal] {
            var received: [String] = []
            for await event in stream {
                received.append("\(event.kind.rawValue) \(event.subject.name)")
                if received.count == 3 { break }
            }
            #expect(received == ["worker_exited web", "worker_fatal web", "worker_exited api"])
        }
        #expect(bus.emittedCounts == [.workerExited: 2, .workerFatal: 1])
        // Every consumer is listed from its subscription on, with nothing dropped.
        #expect(bus.droppedCounts == ["alerts": 0, "journal": 0])
    }

    @Test("a consumer that does not keep up drops its oldest events, counted, and costs the others nothing")
    func slowConsumer() async {
        let bus = EventBus()
        let slow = bus.subscribe("alerts", capacity: 2)
        let fast = bus.subscribe("history", capacity: 10)
        for name in ["a", "b", "c", "d"] { bus.emit(event(.jobFailed, name)) }
        var kept: [String] = []
        for await event in slow {
            kept.append(event.subject.name)
            if kept.count == 2 { break }
        }
        #expect(kept == ["c", "d"])
        var all: [String] = []
        for await event in fast {
            all.append(event.subject.name)
            if all.count == 4 { break }
        }
        #expect(all == ["a", "b", "c", "d"])
        #expect(bus.droppedCounts == ["alerts": 2, "history": 0])
    }

    @Test("every kind has a subject sort and a default severity; recoveries are ok")
    func kinds() {
        for kind in EventKind.allCases {
            #expect(Event(kind, subject: Subject(kind.subjectKind, "x"), message: "").severity == kind.severity)
            #expect(kind.rawValue.contains(where: \.isUppercase) == false)
        }
        #expect(EventKind.allCases.filter { $0.severity == .ok }.allSatisfy { $0.rawValue.hasSuffix("recover") || $0.rawValue.hasSuffix("recovered") })
        #expect(EventKind(named: "crit") == .checkCrit)
        #expect(EventKind(named: "job_failed") == .jobFailed)
        #expect(EventKind(named: "jobFailed") == nil)
        #expect(Severity.critical > .warning && Severity.warning > .info && Severity.info > .ok)
    }
}
