import DaemonRuntime
import Glibc

/// opsd's entry point. Before any thread exists it blocks the signals opsd handles and moves
/// Swift concurrency onto NIO's event loops; then the command runs as a task, and this thread
/// does nothing but wait for signals. Together they keep an idle opsd from waking at all
/// (docs/performance-notes.md).
@main
enum Main {
    /// SIGTERM and SIGINT stop opsd gracefully; SIGHUP reloads the configuration.
    static let signals = SignalInbox([SIGTERM, SIGINT, SIGHUP])
    /// Whether tasks run on NIO's event loops (false: on libdispatch, which wakes once a second).
    static let onEventLoops = DaemonRuntime.runConcurrencyOnEventLoops()

    static func main() {
        // In this order, before any task or thread: both are lazily set on first use.
        _ = signals
        _ = onEventLoops
        // Detached: a plain Task would inherit the main actor, whose queue nobody drains here.
        Task.detached {
            exit(await Opsd.main(arguments: Array(CommandLine.arguments.dropFirst())))
        }
        signals.receiveForever()
    }
}
