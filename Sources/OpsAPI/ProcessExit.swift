/// How a process ended: `{"code": 1}` or `{"signal": 9}`, exactly one of the two.
public struct ProcessExit: Codable, Sendable, Equatable {
    /// The exit code, when it called exit.
    public var code: Int32?
    /// The signal number, when a signal ended it.
    public var signal: Int32?

    /// A process that called exit with `code`.
    public static func exited(_ code: Int32) -> ProcessExit { ProcessExit(code: code, signal: nil) }

    /// A process that a signal ended.
    public static func signaled(_ signal: Int32) -> ProcessExit { ProcessExit(code: nil, signal: signal) }
}
