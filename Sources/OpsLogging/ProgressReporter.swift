#if canImport(Glibc)
import Glibc
#endif
import Synchronization

/// One line on a terminal that says how far a long operation is: its phase, bytes done of the
/// total, the rate and the time left, redrawn in place (`\r`) and cleared at the end.
///
/// It draws only from the work's own calls (`begin`, `update`, `add`), at most once per
/// `interval` (a phase's first line at once), so it needs no timer thread and costs the work a
/// clock read per call. It is for people at a terminal: a program makes one only when stderr is
/// one and no machine reads its output (`standardError(enabled:)`), and passes nil otherwise,
/// which the work checks before anything else. Safe to call from several threads at once.
public final class ProgressReporter: Sendable {
    private let fileDescriptor: Int32
    /// The terminal's width: a line that wrapped onto a second row could not be redrawn in place.
    private let columns: Int?
    private let interval: Duration
    private let clock: @Sendable () -> Duration
    private let state = Mutex(ProgressLine())

    /// A reporter drawing on `fileDescriptor` whether or not it is a terminal (tests pass a pipe),
    /// lines cut to `columns` characters; `clock` is a monotonic time, which tests move by hand.
    public init(
        fileDescriptor: Int32, columns: Int? = nil, interval: Duration = .milliseconds(100),
        clock: @escaping @Sendable () -> Duration = ProgressReporter.monotonic
    ) {
        self.fileDescriptor = fileDescriptor
        self.columns = columns
        self.interval = interval
        self.clock = clock
    }

    /// A reporter on stderr when `enabled` (no `--json`) and stderr is a terminal that can erase a
    /// line (not `TERM=dumb`, as in an editor's shell buffer); nil otherwise (cron, pipes,
    /// systemd), so nothing is drawn where nobody watches. `isTerminal` overrides the check of stderr.
    public static func standardError(enabled: Bool, isTerminal: Bool? = nil) -> ProgressReporter? {
        guard enabled, isTerminal ?? (isatty(STDERR_FILENO) == 1 && getenv("TERM").map { String(cString: $0) } != "dumb") else { return nil }
        var size = winsize()
        let columns = ioctl(STDERR_FILENO, UInt(TIOCGWINSZ), &size) == 0 && size.ws_col > 0 ? Int(size.ws_col) : nil
        return ProgressReporter(fileDescriptor: STDERR_FILENO, columns: columns)
    }

    /// Starts a phase (`store`, `push`…) of `total` bytes, if known; draws it at once.
    public func begin(_ phase: String, total: Int?) {
        let now = clock()
        let text = state.withLock { line -> String in
            line.begin(phase, total: total, at: now)
            return line.text(at: now)
        }
        draw(text)
    }

    /// Sets the bytes done so far in this phase (and, where the work counts objects, how many of
    /// how many); draws when the last line is `interval` old.
    public func update(done: Int, items: (done: Int, total: Int)? = nil) {
        let now = clock()
        let text = state.withLock { line -> String? in
            line.done = done
            if let items { line.items = items }
            return line.due(at: now, interval: interval) ? line.text(at: now) : nil
        }
        if let text { draw(text) }
    }

    /// Adds `bytes` to this phase's bytes done (for work split across threads).
    public func add(_ bytes: Int) {
        let now = clock()
        let text = state.withLock { line -> String? in
            line.done += bytes
            return line.due(at: now, interval: interval) ? line.text(at: now) : nil
        }
        if let text { draw(text) }
    }

    /// Clears the line, so what is printed next starts on an empty one. Call it when the work
    /// ends, whichever way.
    public func finish() {
        let drawn = state.withLock { line -> Bool in
            defer { line = ProgressLine() }
            return line.drawn
        }
        guard drawn else { return }
        write(ProgressLine.clear)
        if fileDescriptor == STDERR_FILENO { Self.lineOnStderr.store(false, ordering: .relaxed) }
    }

    private func draw(_ text: String) {
        state.withLock { $0.drawn = true }
        if fileDescriptor == STDERR_FILENO { Self.lineOnStderr.store(true, ordering: .relaxed) }
        // One column short of the width: a line that fills the last column wraps on some terminals.
        let fitted = columns.map { text.count < $0 ? text : String(text.prefix(max($0 - 1, 0))) } ?? text
        write(ProgressLine.clear + fitted)
    }

    private func write(_ text: String) {
        WholeWrite.write(Array(text.utf8), to: fileDescriptor)
    }

    /// True while a progress line is drawn on stderr: a log line written meanwhile clears it
    /// first (`StderrLine.prefix`), instead of being appended to it.
    static let lineOnStderr = Atomic<Bool>(false)

    /// CLOCK_MONOTONIC, as a duration since boot.
    public static let monotonic: @Sendable () -> Duration = {
        var spec = timespec()
        clock_gettime(CLOCK_MONOTONIC, &spec)
        return .seconds(spec.tv_sec) + .nanoseconds(spec.tv_nsec)
    }
}

/// What else writes to stderr while a progress line may be drawn.
public enum StderrLine {
    /// `\r` and erase-line when a progress line is on stderr, so a line written after it starts
    /// at the left edge of an empty line; empty otherwise.
    public static var prefix: String {
        ProgressReporter.lineOnStderr.load(ordering: .relaxed) ? ProgressLine.clear : ""
    }

    /// Writes `line` and a newline to stderr in one `write(2)`, after clearing a progress line.
    public static func write(_ line: String) {
        WholeWrite.write(Array((prefix + line + "\n").utf8), to: STDERR_FILENO)
    }
}

/// The state of one progress line and its text; no I/O, so tests check it directly.
struct ProgressLine {
    /// Back to the line's start, and erase it.
    static let clear = "\r\u{1B}[K"

    var phase = ""
    var total: Int?
    var done = 0
    var items: (done: Int, total: Int)?
    var started: Duration = .zero
    var lastDrawn: Duration?
    var drawn = false

    mutating func begin(_ phase: String, total: Int?, at now: Duration) {
        self.phase = phase
        self.total = total
        done = 0
        items = nil
        started = now
        lastDrawn = now
    }

    /// Whether a line is due, and if so, notes it as drawn now.
    mutating func due(at now: Duration, interval: Duration) -> Bool {
        if let lastDrawn, now - lastDrawn < interval { return false }
        lastDrawn = now
        return true
    }

    /// `store  64.0 MiB / 135.2 MiB  47%  30.1 MiB/s  3s left`; without a total,
    /// `push  40.0 MiB  3/12 objects  12.3 MiB/s`. The rate and time left appear once the phase
    /// has run half a second, so they are measured, not guessed from the first call.
    func text(at now: Duration) -> String {
        var parts = [phase]
        if let total {
            let shown = min(done, total)
            parts.append("\(ByteCount.format(shown)) / \(ByteCount.format(total))")
            if total > 0 { parts.append("\(shown * 100 / total)%") }
        } else if done > 0 {
            parts.append(ByteCount.format(done))
        }
        if let items { parts.append("\(items.done)/\(items.total) objects") }
        let elapsed = Self.seconds(now - started)
        guard elapsed >= 0.5 else { return parts.joined(separator: "  ") }
        let rate = Double(done) / elapsed
        if done > 0 { parts.append("\(ByteCount.format(Int(rate)))/s") }
        if let total, total > done, done > 0 {
            parts.append(Self.duration(Double(total - done) / rate) + " left")
        } else if total == nil, let items, items.done > 0, items.total > items.done {
            parts.append(Self.duration(elapsed * Double(items.total - items.done) / Double(items.done)) + " left")
        }
        return parts.joined(separator: "  ")
    }

    static func seconds(_ duration: Duration) -> Double {
        let (seconds, attoseconds) = duration.components
        return Double(seconds) + Double(attoseconds) / 1e18
    }

    /// `4s`, `1m05s`, `2h03m`.
    static func duration(_ seconds: Double) -> String {
        let whole = Int(seconds.rounded(.up))
        if whole < 60 { return "\(whole)s" }
        func two(_ n: Int) -> String { n < 10 ? "0\(n)" : "\(n)" }
        if whole < 3600 { return "\(whole / 60)m\(two(whole % 60))s" }
        return "\(whole / 3600)h\(two(whole / 60 % 60))m"
    }
}
