/// `POST /v1/reload`: what a reload did.
public struct ReloadReport: Codable, Sendable, Equatable {
    /// Whether the new configuration is now in force.
    public var applied: Bool
    /// The problems that made it rejected (empty when applied).
    public var problems: [String]
    /// The sections that changed (`workers`, `checks`, …), when applied.
    public var changedSections: [String]
    /// Changes that need a restart of opsd to take effect (e.g. the socket path).
    public var needsRestart: [String]

    /// Creates a reload report.
    public init(applied: Bool, problems: [String], changedSections: [String], needsRestart: [String]) {
        self.applied = applied
        self.problems = problems
        self.changedSections = changedSections
        self.needsRestart = needsRestart
    }
}
