/// One problem found in a configuration file: where it is (key path and line) and what to do.
///
/// Rendered as `checks[2].warn: "eighty" is not a threshold; … (line 14)`.
public struct ConfigDiagnostic: Sendable, Equatable, CustomStringConvertible {
    /// The key path (`workers[0].restart.backoff`); empty for problems with the file as a whole.
    public var path: String
    /// One sentence: what is wrong and, where it helps, what is accepted.
    public var message: String
    /// The 1-based line in the file, when known.
    public var line: Int?

    /// Creates a diagnostic.
    public init(path: String, message: String, line: Int?) {
        self.path = path
        self.message = message
        self.line = line
    }

    /// `path: message (line N)`.
    public var description: String {
        let location = line.map { " (line \($0))" } ?? ""
        return path.isEmpty ? message + location : "\(path): \(message)\(location)"
    }
}

/// A configuration file that cannot be used, with every problem found in it.
public struct ConfigError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The file as named by the user.
    public var file: String
    /// All problems, in file order.
    public var diagnostics: [ConfigDiagnostic]

    /// Creates a config error.
    public init(file: String, diagnostics: [ConfigDiagnostic]) {
        self.file = file
        self.diagnostics = diagnostics
    }

    /// A header line and one line per problem.
    public var description: String {
        if diagnostics.count == 1 { return "\(file): \(diagnostics[0])" }
        return "\(file): \(diagnostics.count) problems:\n" + diagnostics.map { "  \($0)" }.joined(separator: "\n")
    }
}
