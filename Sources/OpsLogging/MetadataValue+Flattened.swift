package import Logging

extension Logger.MetadataValue {
    /// The value as one string; nested values in a compact form.
    package var flattened: String {
        switch self {
        case .string(let text): text
        case .stringConvertible(let value): value.description
        case .array(let values): "[" + values.map(\.flattened).joined(separator: ", ") + "]"
        case .dictionary(let values): "{" + values.sorted { $0.key < $1.key }.map { "\($0.key): \($0.value.flattened)" }.joined(separator: ", ") + "}"
        }
    }
}
