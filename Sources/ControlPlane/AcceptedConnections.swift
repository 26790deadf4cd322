import NIOCore
import Synchronization

/// The connections a listener has accepted and wrapped, from the child initializer until a
/// serving task claims one, or until the listener closes those nobody claimed.
///
/// Why: NIO's async server hands accepted connections to the accept loop through a buffer. A
/// connection wrapped in its initializer (its `NIOAsyncChannel` made) but dropped on the way,
/// because the listener closed while a client was connecting, is deinitialised without
/// `executeThenClose`, and NIO stops the process for that ("Deinited NIOAsyncWriter without
/// calling finish()", swift-nio#2637). Kept here as well, such a connection is closed properly
/// once the accept loop has ended, and once closing has begun no connection is wrapped any more.
final class AcceptedConnections: Sendable {
    typealias Connection = ControlServer.Connection

    private struct State {
        var closing = false
        var unclaimed: [ObjectIdentifier: Connection] = [:]
    }

    private let state = Mutex(State())

    /// Wraps `channel` with `wrap` and keeps the connection until it is claimed; nil, without
    /// wrapping, once the listener is closing (the caller refuses the connection instead).
    func admit(_ channel: any Channel, _ wrap: () throws -> Connection) throws -> Connection? {
        try state.withLock { state throws -> Connection? in
            guard !state.closing else { return nil }
            let connection = try wrap()
            state.unclaimed[ObjectIdentifier(channel)] = connection
            return connection
        }
    }

    /// Takes `connection` for serving; false when the listener has closed it already.
    func claim(_ connection: Connection) -> Bool {
        state.withLock { $0.unclaimed.removeValue(forKey: ObjectIdentifier(connection.channel)) != nil }
    }

    /// From now on no connection is wrapped (the listener is about to close).
    func stopAdmitting() {
        state.withLock { $0.closing = true }
    }

    /// Stops admitting, and closes every connection nobody claimed: the accept loop has ended, so
    /// nobody will.
    func closeUnclaimed() async {
        let left = state.withLock { state -> [Connection] in
            state.closing = true
            defer { state.unclaimed.removeAll() }
            return Array(state.unclaimed.values)
        }
        for connection in left {
            try? await connection.executeThenClose { _, _ in }
        }
    }
}
