public import DaemonRuntime
import Synchronization

/// The newest output of each child by name, outside journald: what `opsctl logs` shows there.
///
/// A ring per name, made when the child first starts and filled only as it writes; it survives
/// the child's restarts, so the lines before a crash stay readable after it.
public final class RecentOutput: Sendable {
    /// The most bytes kept per child.
    public let bytesPerChild: Int
    private let rings = Mutex<[String: OutputRing]>([:])

    /// Keeps up to `bytesPerChild` bytes of each child's output.
    public init(bytesPerChild: Int) {
        self.bytesPerChild = bytesPerChild
    }

    /// The ring of `name`, made on first use.
    public func ring(for name: String) -> OutputRing {
        rings.withLock { rings in
            if let ring = rings[name] { return ring }
            let ring = OutputRing(capacity: bytesPerChild)
            rings[name] = ring
            return ring
        }
    }

    /// The ring of `name` if it ever started, without making one.
    public func existingRing(for name: String) -> OutputRing? {
        rings.withLock { $0[name] }
    }
}
