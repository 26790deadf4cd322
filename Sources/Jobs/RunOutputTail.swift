public import DaemonRuntime
import OpsConfig

/// The tail of a run's output as its record keeps it: the last `lines` lines or `bytes` bytes,
/// whichever is smaller, with the job's secrets masked.
public enum RunOutputTail {
    /// Lines kept.
    public static let lines = 20
    /// Bytes kept (the ring's size).
    public static let bytes = 4096
    /// Values shorter than this are not masked: "1", "yes" or "dev" are settings rather than
    /// secrets, and masking them would garble every line they occur in.
    static let shortestSecret = 4

    /// A ring for one run's output.
    public static func ring() -> OutputRing { OutputRing(capacity: bytes) }

    /// The kept text of `ring` (nil when the run wrote nothing), with every value of
    /// `environment` (the job's `environment:`, its `environment_file:` values included) replaced
    /// by `ConfigSecrets.mask`: a failing job that prints its token must not store it.
    public static func text(of ring: OutputRing, masking environment: [String: String]) -> String? {
        var lines = ring.lastLines(Self.lines)
        // A followed run's ring is larger than the tail: keep its last `bytes` whole lines.
        while lines.count > 1, lines.reduce(lines.count - 1, { $0 + $1.utf8.count }) > Self.bytes { lines.removeFirst() }
        guard !lines.isEmpty else { return nil }
        var text = lines.joined(separator: "\n")
        // Longest first, so a secret containing another is masked whole.
        for value in Set(environment.values).filter({ $0.count >= shortestSecret }).sorted(by: { $0.count > $1.count }) {
            text = text.replacing(value, with: ConfigSecrets.mask)
        }
        return text
    }
}
