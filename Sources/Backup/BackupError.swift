/// Why a backup or restore failed, in one sentence that says what to do.
///
/// The message never holds a secret: URLs are shown without credentials, tokens and keys only by
/// the path of the file that holds them.
public struct BackupError: Error, CustomStringConvertible, Sendable, Equatable {
    /// The sentence shown to the operator.
    public var description: String

    /// An error with the given sentence.
    public init(_ description: String) { self.description = description }
}
