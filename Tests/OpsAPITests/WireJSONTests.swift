import FoundationEssentials
import OpsAPI
import Testing

@Suite("the API's one JSON convention")
struct WireJSONTests {
    @Test("keys are snake_case, times ISO-8601, durations seconds, exits {code|signal}; the decoder reads it back")
    func roundTrip() throws {
        let worker = WorkerStatus(
            name: "web", state: .backoff, command: ["/bin/app", "--port=8080"], pid: 42, uptimeSeconds: 1.5, restarts: 2,
            lastExit: .signaled(9), statusText: "serving", rssBytes: 1_048_576, cpuSeconds: 0.25, message: nil
        )
        let run = JobRunStatus(
            scheduledAt: Date(timeIntervalSince1970: 1_800_000_000), startedAt: Date(timeIntervalSince1970: 1_800_000_001),
            finishedAt: nil, result: .interrupted, attempts: 1, durationSeconds: nil, message: "opsd stopped during the run"
        )
        let text = try WireJSON.text(worker)
        #expect(text.contains(#""last_exit" : {"#) && text.contains(#""signal" : 9"#) && text.contains(#""rss_bytes" : 1048576"#))
        #expect(text.contains(#""state" : "backoff""#) && text.contains(#""uptime_seconds" : 1.5"#) && !text.contains("lastExit"))
        #expect(try WireJSON.decoder.decode(WorkerStatus.self, from: Data(text.utf8)) == worker)

        let runText = try WireJSON.text(run)
        #expect(runText.contains(#""scheduled_at" : "2027-01-15T08:00:00Z""#) && runText.contains(#""result" : "interrupted""#))
        #expect(try WireJSON.decoder.decode(JobRunStatus.self, from: Data(runText.utf8)) == run)
    }

    @Test("an exit code and a signal are told apart")
    func exits() throws {
        let exits: [ProcessExit] = [.exited(0), .exited(1), .signaled(15)]
        let decoded = try WireJSON.decoder.decode([ProcessExit].self, from: Data(try WireJSON.text(exits).utf8))
        #expect(decoded == exits)
        #expect(decoded.map(\.code) == [0, 1, nil] && decoded.map(\.signal) == [nil, nil, 15])
    }

    @Test("a value opsd does not know is refused, not guessed")
    func unknownState() {
        let json = #"{"name": "web", "state": "sleeping", "command": [], "restarts": 0}"#
        #expect(throws: DecodingError.self) { try WireJSON.decoder.decode(WorkerStatus.self, from: Data(json.utf8)) }
    }
}
