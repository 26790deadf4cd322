import ControlPlane
import DaemonRuntime
import Foundation
@testable import Jobs
import OpsAPI
@testable import OpsDaemon
import Synchronization
import Testing

/// The answer of `POST /v1/jobs/NAME/run?stream=1`, from a ring the test fills.
@Suite("jobs run: the streamed answer")
struct JobRunStreamAnswerTests {
    static let record = RunRecord(
        scheduledAt: Date(timeIntervalSince1970: 1_772_334_000), startedAt: Date(timeIntervalSince1970: 1_772_334_000),
        finishedAt: Date(timeIntervalSince1970: 1_772_334_002), result: .failed, attempts: 1, message: "exit 3"
    )

    /// Every item of the answer, in order.
    static func items(of ring: OutputRing) async throws -> [JobRunStreamItem] {
        let written = Mutex<[UInt8]>([])
        let response = JobRunStream(run: Task { record }, output: ring).response()
        let stream = try #require(response.stream)
        try await stream(ControlBodyWriter { bytes in written.withLock { $0 += bytes } })
        return try written.withLock { $0 }.split(separator: 10).map { try WireJSON.decoder.decode(JobRunStreamItem.self, from: Data($0)) }
    }

    @Test("lines in order, a last line without its newline, then the record")
    func linesThenRecord() async throws {
        let ring = OutputRing(capacity: 65536)
        ring.append(Array("one\ntwo\nno newline".utf8))
        ring.close()
        let items = try await Self.items(of: ring)
        #expect(items.compactMap(\.output) == ["one", "two", "no newline"])
        #expect(items.last?.run?.result == .failed)
        #expect(items.allSatisfy { $0.skippedBytes == nil })
    }

    @Test("output the ring no longer holds is reported as skipped bytes, not passed over in silence")
    func skippedBytesAreReported() async throws {
        let ring = OutputRing(capacity: 1024)
        ring.append(Array((1...300).map { "line \($0)\n" }.joined().utf8))
        ring.close()
        let items = try await Self.items(of: ring)
        let skipped = try #require(items.first?.skippedBytes)
        #expect(skipped == ring.totalBytes - 1024)
        #expect(items.compactMap(\.output).last == "line 300")
        #expect(items.last?.run != nil)
    }
}
