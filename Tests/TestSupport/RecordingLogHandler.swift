public import Logging
import Synchronization

/// A log handler that keeps every line, to check what reaches the logs.
public struct RecordingLogHandler: LogHandler {
    /// The lines, shared by every copy of the handler.
    public final class Store: Sendable {
        private let lines = Mutex<[String]>([])
        /// Every line so far: `LEVEL MESSAGE key=value…`.
        public var all: [String] { lines.withLock { $0 } }
        /// An empty store.
        public init() {}
        func append(_ line: String) { lines.withLock { $0.append(line) } }
    }

    /// Where the lines go.
    public let store: Store
    public var metadata: Logger.Metadata = [:]
    public var logLevel: Logger.Level = .trace

    /// A handler writing to `store`.
    public init(store: Store) {
        self.store = store
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        let fields = (event.metadata ?? [:]).merging(metadata) { new, _ in new }.map { "\($0.key)=\($0.value)" }.sorted()
        store.append("\(event.level) \(event.message) \(fields.joined(separator: " "))")
    }
}

/// A logger whose lines land in `store`.
public func recordingLogger(_ store: RecordingLogHandler.Store) -> Logger {
    Logger(label: "test") { _ in RecordingLogHandler(store: store) }
}
