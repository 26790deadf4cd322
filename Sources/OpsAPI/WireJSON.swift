public import FoundationEssentials

/// The one JSON convention of opsd's control API and of every `opsctl … --json` output
/// (docs/cli-json.md): snake_case keys, ISO-8601 times in UTC (`2026-03-29T01:30:00Z`), durations
/// as a number of seconds under a key ending in `_seconds`, keys sorted, two-space indentation.
///
/// opsd encodes its answers with it and opsctl decodes them and prints its own output with it, so
/// the two cannot drift apart. Only `opsctl health --json` differs: it prints the
/// application/health+json draft, whose names (`observedValue`, `componentId`) are the draft's.
public enum WireJSON {
    /// The encoder for control responses and `--json` output.
    public static var encoder: JSONEncoder {
        let encoder = JSONEncoder()
        encoder.keyEncodingStrategy = .convertToSnakeCase
        encoder.dateEncodingStrategy = .iso8601
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
        return encoder
    }

    /// The same convention on one line: for streams of newline-delimited JSON (`jobs run`).
    public static var lineEncoder: JSONEncoder {
        let encoder = Self.encoder
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return encoder
    }

    /// The matching decoder.
    public static var decoder: JSONDecoder {
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        decoder.dateDecodingStrategy = .iso8601
        return decoder
    }

    /// `value` as text, the way opsctl prints it.
    public static func text(_ value: some Encodable) throws -> String {
        String(decoding: try encoder.encode(value), as: UTF8.self)
    }
}
