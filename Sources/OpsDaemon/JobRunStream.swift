import ControlPlane
import DaemonRuntime
import FoundationEssentials
import Jobs
import OpsAPI

/// A job run started by `opsctl jobs run`, answered as it goes: each line of its output as the
/// job writes it, then its record, as newline-delimited `JobRunStreamItem`s.
///
/// The run writes into a ring of its own (64 KiB, like a worker's recent output) as well as to
/// its usual place; the answer follows the ring, woken by each write, so nothing polls. A reader
/// slower than the job loses the oldest lines, and is told how many bytes. A reader that goes
/// away (Ctrl-C) stops only the answer: the run goes on, and `opsctl jobs show` has its result.
struct JobRunStream {
    let run: Task<RunRecord, Never>
    let output: OutputRing

    /// The streamed response.
    func response() -> ControlResponse {
        .streamed(contentType: "application/x-ndjson") { body in
            var position: UInt64 = 0
            while true {
                // Whether the run had ended is read before the lines, so its last ones are not missed.
                let ended = output.isClosed
                let oldest = output.oldestKept
                if position < oldest {
                    try await body.write(Self.line(JobRunStreamItem(skippedBytes: oldest - position)))
                    position = oldest
                }
                let read = output.lines(after: position, includingPartial: ended)
                if !read.lines.isEmpty {
                    try await body.write(read.lines.flatMap { Self.line(JobRunStreamItem(output: $0)) })
                }
                position = read.position
                if ended { break }
                await output.wait(beyond: read.total)
            }
            try await body.write(Self.line(JobRunStreamItem(run: JobRunStatus(await run.value))))
        }
    }

    /// One item as a line of JSON.
    static func line(_ item: JobRunStreamItem) -> [UInt8] {
        ((try? WireJSON.lineEncoder.encode(item)).map(Array.init) ?? []) + [UInt8(ascii: "\n")]
    }
}
