import ControlPlane
import FoundationEssentials
import Glibc
import OpsAPI
import Synchronization

/// Prints a job run's output as opsd streams it (`POST /v1/jobs/NAME/run?stream=1`) and keeps
/// the record that ends the stream.
///
/// Pieces arrive on the client's thread, cut anywhere; a line is printed once its newline is in,
/// straight to the descriptor, so a terminal or a cron mail sees it when the job wrote it.
final class JobRunStreamOutput: Sendable {
    private let descriptor: Int32
    private let state = Mutex(State())

    private struct State {
        var pending: [UInt8] = []
        var record: JobRunStatus?
        var unreadable = false
    }

    /// Output to `descriptor` (stdout, or stderr when stdout carries JSON).
    init(descriptor: Int32) {
        self.descriptor = descriptor
    }

    /// Takes one piece of the answer's body.
    @Sendable func receive(_ bytes: [UInt8]) {
        state.withLock { state in
            state.pending += bytes
            while let newline = state.pending.firstIndex(of: UInt8(ascii: "\n")) {
                let line = state.pending[..<newline]
                defer { state.pending.removeSubrange(...newline) }
                guard let item = try? WireJSON.decoder.decode(JobRunStreamItem.self, from: Data(line)) else {
                    state.unreadable = true
                    continue
                }
                if let text = item.output { write(descriptor, text + "\n") }
                if let skipped = item.skippedBytes {
                    write(STDERR_FILENO, "opsctl: \(skipped) bytes of the run's output were skipped: this reader fell behind the job\n")
                }
                if let run = item.run { state.record = run }
            }
        }
    }

    /// The run's record once the answer has ended; an error answer (404, 409) or a stream cut
    /// before its record as a failure saying so.
    func record(_ answer: ControlResponse) throws -> JobRunStatus {
        // An error answers with a body, as does an opsd that does not stream (its record).
        guard (200..<300).contains(answer.status), answer.body.isEmpty else {
            return try answer.decoded(JobRunStatus.self)
        }
        return try state.withLock { state in
            if let record = state.record { return record }
            throw Failure(
                state.unreadable
                    ? "opsd sent a run this opsctl cannot read; are opsd and opsctl the same version?"
                    : "the connection to opsd ended before the run did (opsd stopped?); `opsctl jobs show` has its result")
        }
    }

    private func write(_ descriptor: Int32, _ text: String) {
        var bytes = Array(text.utf8)[...]
        while !bytes.isEmpty {
            let written = bytes.withUnsafeBytes { Glibc.write(descriptor, $0.baseAddress, $0.count) }
            if written < 0, errno == EINTR { continue }
            guard written > 0 else { return }
            bytes = bytes.dropFirst(written)
        }
    }
}
