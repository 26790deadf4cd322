import DaemonRuntime

/// Runs a check's blocking work (statvfs, SQLite, directory listings) on a thread of its own,
/// off the event loops and out of any fixed-size pool: a check stuck in the kernel or on a busy
/// database must not stall another check (its deadline abandons it; the thread ends with it).
func blocking<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await onOwnThread(named: "opsd-check", body)
}
