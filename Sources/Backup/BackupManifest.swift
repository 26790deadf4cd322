import Foundation

/// The manifest of one database in one backup: `db/<name>/manifest.json`.
///
/// It describes how to rebuild the file: concatenate the `full` chunks, apply each `deltas`
/// entry in order, truncate to `size`, then check `sha256`. docs/backup-format.md specifies it.
public struct DatabaseManifest: Codable, Sendable, Equatable {
    /// The layout version; readers refuse versions they do not know.
    public var format: Int
    /// The database's name in the repository (`db/<name>/`).
    public var name: String
    /// The path the database was read from, and where `opsctl restore` puts it back.
    public var source: String
    /// The file's size in bytes.
    public var size: Int
    /// SQLite's page size, the unit of the deltas.
    public var pageSize: Int
    /// `size / pageSize`.
    public var pageCount: Int
    /// SHA-256 of the whole rebuilt file, lowercase hex.
    public var sha256: String
    /// The SQLite library that took the snapshot.
    public var sqliteVersion: String
    /// When the snapshot was taken (ISO 8601, UTC).
    public var time: String
    /// The full snapshot the chain starts from.
    public var full: FullSnapshot
    /// The deltas since the full snapshot, oldest first; empty right after a full snapshot.
    public var deltas: [DeltaRecord]

    /// A full copy of the file as chunks whose concatenation is the file at the time of `full`.
    public struct FullSnapshot: Codable, Sendable, Equatable {
        /// Chunk blobs, in order, as paths inside `db/<name>/`.
        public var chunks: [String]
        /// The file's size when the full snapshot was taken (the concatenation's length).
        public var size: Int
        /// SHA-256 of the concatenation.
        public var sha256: String
        /// When it was taken.
        public var time: String
        /// Bytes the full snapshot added to the repository (its packs), for the chain policy.
        public var storedBytes: Int
    }

    /// One backup's changed bytes, as patches against the backup before it.
    public struct DeltaRecord: Codable, Sendable, Equatable {
        /// The blobs holding the records, in order, as paths inside `db/<name>/`.
        public var parts: [String]
        /// The file's size after this delta (the file grows or shrinks by whole pages).
        public var size: Int
        /// How many pages changed.
        public var pagesChanged: Int
        /// SHA-256 of the file after applying this delta.
        public var sha256: String
        /// When the snapshot was taken.
        public var time: String
        /// Bytes this delta added to the repository (its packs).
        public var storedBytes: Int
        /// How the parts encode the change: nil for page records (`PageDelta`, every backup
        /// before this field existed), `zstd-patch` for one zstd frame against the previous
        /// version (`ZstdPatch`). Readers refuse values they do not know.
        public var encoding: String? = nil
    }

    /// The layout version this code writes and reads.
    public static let currentFormat = 1

    /// True when this backup is a full snapshot (no delta to apply).
    public var isFull: Bool { deltas.isEmpty }
}

/// The top-level `manifest.json` of a backup commit.
public struct BackupManifest: Codable, Sendable, Equatable {
    /// The layout version.
    public var format: Int
    /// The host that made the backup.
    public var host: String
    /// When the backup was made (ISO 8601, UTC).
    public var time: String
    /// The databases in `db/`, by name.
    public var databases: [String]
    /// The files under `files/`, as their original absolute paths.
    public var files: [String]
    /// Files under `files/` stored with their secret values replaced by `<masked>` (the
    /// configuration file): not byte for byte.
    public var maskedFiles: [String]?
}

enum ManifestCoding {
    static func encode(_ value: some Encodable) throws(BackupError) -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.keyEncodingStrategy = .convertToSnakeCase
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        do { return Array(try encoder.encode(value)) + [0x0a] } catch { throw BackupError("cannot encode a manifest: \(error)") }
    }

    static func decode<T: Decodable>(_ type: T.Type, from bytes: [UInt8], what: String) throws(BackupError) -> T {
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        do { return try decoder.decode(type, from: Data(bytes)) } catch {
            throw BackupError("\(what) is not a valid manifest (\(error)); the backup repository is damaged, restore from another commit with --at")
        }
    }

    static func timestamp(_ date: Date) -> String {
        date.formatted(.iso8601)
    }
}
