/// `opsctl config check --json`: whether a configuration file is valid, and every problem.
public struct ConfigCheckReport: Codable, Sendable, Equatable {
    /// One problem, at a key path and line.
    public struct Problem: Codable, Sendable, Equatable {
        /// The key path, e.g. `checks[2].warn`.
        public var path: String
        /// The line in the file, when known.
        public var line: Int?
        /// What is wrong and what to write instead.
        public var message: String

        /// Creates a problem.
        public init(path: String, line: Int?, message: String) {
            self.path = path
            self.line = line
            self.message = message
        }
    }

    /// The file checked.
    public var file: String
    /// True when there is no problem.
    public var valid: Bool
    /// Every problem, in file order.
    public var problems: [Problem]
    /// What is valid but probably not meant (a secret file inside `backup.files`); warnings do
    /// not make the file invalid.
    public var warnings: [String]

    /// Creates a report.
    public init(file: String, problems: [Problem], warnings: [String] = []) {
        self.file = file
        self.valid = problems.isEmpty
        self.problems = problems
        self.warnings = warnings
    }
}
