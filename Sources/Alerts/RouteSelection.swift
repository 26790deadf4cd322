public import Events
public import OpsConfig

extension AlertSpec {
    /// Whether the route takes `event` by its own rules (kind, severity, subject). A resolved
    /// message can reach a route that does not take it: ``AlertRouter`` decides that.
    public func selects(_ event: Event) -> Bool {
        guard subjects.takes(event.subject) else { return false }
        if let on, !on.contains(event.kind) { return false }
        return event.severity >= minimumSeverity
    }

    /// `severity:`, or what a route without it takes: warning and up when it lists no kinds,
    /// anything of the kinds it lists.
    public var minimumSeverity: Severity {
        severity ?? (on == nil ? .warning : .ok)
    }
}
