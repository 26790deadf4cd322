/// One kind of measurement: disk, memory, sqlite, queue, http or a Nagios plugin.
///
/// A kind only measures; thresholds, timeouts and the turning of failures into UNKNOWN happen
/// once, in `ConfiguredCheck`, so every kind behaves the same way there.
public protocol Check: Sendable {
    /// Measures once. Throws `CheckFailure` (or any error) when it cannot measure; it should give
    /// up by `deadline`, but a kind that cannot (a hung NFS mount in statvfs) is abandoned then.
    func observe(deadline: ContinuousClock.Instant) async throws -> Observation
}
