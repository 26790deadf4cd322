import Foundation
import OpsLogging
import Synchronization
import StateStore

/// Rebuilds a database file from a backup commit: the full snapshot's chunks, then each delta
/// in order, then a check of the whole file's SHA-256 against the manifest.
struct Reassembler {
    let repository: GitRepository
    /// Hears how far the write and the check got (a restore's); nil where nobody watches.
    var progress: ProgressReporter? = nil

    /// Reads `db/<name>/manifest.json` from a commit's tree.
    func manifest(name: String, tree: ObjectID) throws(BackupError) -> DatabaseManifest? {
        guard let id = try repository.entry("db/\(name)/manifest.json", in: tree) else { return nil }
        let manifest = try ManifestCoding.decode(DatabaseManifest.self, from: try repository.readBlob(id), what: "db/\(name)/manifest.json")
        guard manifest.format == DatabaseManifest.currentFormat else {
            throw BackupError("db/\(name)/manifest.json has format \(manifest.format), which this opsd does not know (it reads \(DatabaseManifest.currentFormat)); restore with a newer opsd")
        }
        guard manifest.pageSize >= 512, manifest.pageSize <= 65536, manifest.pageSize & (manifest.pageSize - 1) == 0 else {
            throw BackupError("db/\(name)/manifest.json has page size \(manifest.pageSize), which SQLite never uses; the backup repository is damaged")
        }
        return manifest
    }

    /// The objects a manifest names, resolved and measured before anything is written.
    struct Layout {
        var manifest: DatabaseManifest
        /// The full snapshot's chunks and their offsets.
        var chunks: [(id: ObjectID, offset: Int)]
        /// Each delta's parts, in order.
        var deltas: [[ObjectID]]
    }

    /// Resolves every object `manifest` names in `tree` and checks the sizes it claims against
    /// the objects actually there, reading only object headers: a manifest is data from the
    /// repository (or a remote), and a claim of 1 TiB must be refused before a byte is written.
    ///
    /// The full snapshot must be exactly its chunks. A delta can grow the file only by pages it
    /// has records for (a record never crosses a page, and every page past the previous end has
    /// one, even an empty one for a page of zeros), so it grows by at most one page per 12-byte
    /// record header in its parts.
    func layout(_ manifest: DatabaseManifest, tree: ObjectID) throws(BackupError) -> Layout {
        let directory = "db/\(manifest.name)/"
        func object(_ path: String) throws(BackupError) -> (ObjectID, Int) {
            guard let id = try repository.entry(directory + path, in: tree) else {
                throw BackupError("\(directory + path) is missing from the backup; the repository is damaged, restore from another commit with --at")
            }
            return (id, try repository.objectSize(id))
        }
        var layout = Layout(manifest: manifest, chunks: [], deltas: [])
        var total = 0
        for chunk in manifest.full.chunks {
            let (id, size) = try object(chunk)
            layout.chunks.append((id, total))
            total += size
        }
        guard total == manifest.full.size else {
            throw BackupError("the full snapshot of \(manifest.name) has \(total) bytes instead of \(manifest.full.size); the backup repository is damaged or forged, restore from another commit with --at")
        }
        var size = total
        for (index, delta) in manifest.deltas.enumerated() {
            var ids: [ObjectID] = []
            var partBytes = 0
            for part in delta.parts {
                let (id, bytes) = try object(part)
                ids.append(id)
                partBytes += bytes
            }
            switch delta.encoding {
            case nil:
                let growth = (partBytes / PageDelta.headerBytes).multipliedReportingOverflow(by: manifest.pageSize)
                guard delta.size >= 0, growth.overflow || delta.size - size <= growth.partialValue else {
                    throw BackupError("delta \(index + 1) of \(manifest.name) claims \(delta.size) bytes, more than its \(partBytes) bytes of records can make of a \(size)-byte file; the backup repository is damaged or forged, restore from another commit with --at")
                }
            case ZstdPatch.encoding?:
                try checkPatch(delta, index: index, of: manifest.name, first: ids.first, bytes: partBytes)
            case let other?:
                throw BackupError("delta \(index + 1) of \(manifest.name) is stored as '\(other)', an encoding this opsd does not know (it reads page records and \(ZstdPatch.encoding)); restore with a newer opsd")
            }
            layout.deltas.append(ids)
            size = delta.size
        }
        guard manifest.size == size else {
            throw BackupError("the manifest of \(manifest.name) claims \(manifest.size) bytes, but its snapshot and deltas make \(size); the backup repository is damaged or forged, restore from another commit with --at")
        }
        return layout
    }

    /// A zstd patch must decode to the size the manifest claims, as its frame's header declares,
    /// and that size must be one its compressed bytes can make at all (a block of at least 4 bytes
    /// yields at most 128 KiB): a forged size is refused before anything is decoded or written.
    private func checkPatch(_ delta: DatabaseManifest.DeltaRecord, index: Int, of name: String, first: ObjectID?, bytes: Int) throws(BackupError) {
        let what = "delta \(index + 1) of \(name)"
        guard let first, let declared = ZstdPatch.declaredSize(of: try repository.readBlob(first)) else {
            throw BackupError("\(what) is not a zstd frame that declares its size; the backup repository is damaged or forged, restore from another commit with --at")
        }
        let bound = bytes.multipliedReportingOverflow(by: ZstdPatch.maximumExpansion)
        guard delta.size == declared, bound.overflow || declared <= bound.partialValue else {
            throw BackupError("\(what) claims \(delta.size) bytes, but its \(bytes)-byte zstd frame declares \(declared) and can make at most \(bound.partialValue); the backup repository is damaged or forged, restore from another commit with --at")
        }
    }

    /// Writes the database described by `manifest` (found in `tree`) to a new file at `path`
    /// (mode 0600) and verifies it.
    func rebuild(_ manifest: DatabaseManifest, tree: ObjectID, to path: String) throws(BackupError) {
        let layout = try layout(manifest, tree: tree)
        unlink(path)
        try rebuild(layout, into: try WritableFile(creatingNew: path))
    }

    /// Writes a checked layout into `file` (new and empty) and verifies its SHA-256. With `sync`
    /// the file is fsynced first; a restore passes false and fsyncs it while SQLite checks it.
    func rebuild(_ layout: Layout, into file: WritableFile, sync: Bool = true) throws(BackupError) {
        let manifest = layout.manifest
        let directory = "db/\(manifest.name)/"
        progress?.begin("write \(manifest.name)", total: manifest.full.size)
        // Page records only (the usual chain): written and hashed in one pass, no second read.
        if let overlay = try PageOverlay(layout, repository: repository) {
            let digest = try writeInOnePass(layout, overlay: overlay, to: file)
            if sync { try file.finish() }
            progress?.begin("verify \(manifest.name)", total: manifest.size)
            progress?.update(done: manifest.size)
            return try check(digest, of: manifest)
        }
        try writeFullSnapshot(layout, to: file)
        var size = manifest.full.size
        // One scratch for every patch of the chain, as large as the largest version one decodes.
        let patched = manifest.deltas.filter { $0.encoding == ZstdPatch.encoding }.map(\.size)
        let scratch = try patched.max().map { (largest) throws(BackupError) in try ScratchMapping(size: largest, beside: file.path) }
        var lastWasPatch = false
        for (delta, parts) in zip(manifest.deltas, layout.deltas) {
            lastWasPatch = delta.encoding == ZstdPatch.encoding
            if lastWasPatch, let scratch {
                var frame: [UInt8] = []
                for id in parts { frame += try repository.readBlob(id) }
                let what = directory + (delta.parts.first.map { "\($0)…" } ?? "delta")
                try ZstdPatch.apply(frame: frame, to: file, referenceSize: size, size: delta.size, scratch: scratch, what: what)
            } else {
                for (name, id) in zip(delta.parts, parts) {
                    try PageDelta.apply(part: try repository.readBlob(id), to: file, limit: delta.size, what: directory + name)
                }
            }
            try file.truncate(to: delta.size)
            size = delta.size
        }
        try file.truncate(to: manifest.size)
        if sync { try file.finish() }
        progress?.begin("verify \(manifest.name)", total: manifest.size)
        let digest: String
        if lastWasPatch, let scratch, manifest.size <= scratch.bytes.count {
            // The last patch left the final version in the scratch memory: hashed there, not read back.
            let hasher = SHA256Hasher()
            hasher.update(UnsafeRawBufferPointer(rebasing: scratch.bytes[0..<manifest.size]))
            digest = hasher.finalHex()
            progress?.update(done: manifest.size)
        } else {
            digest = try SHA256Hasher.file(file.path, progress: progress.map { progress in { progress.update(done: $0) } })
        }
        try check(digest, of: manifest)
    }

    private func check(_ digest: String, of manifest: DatabaseManifest) throws(BackupError) {
        guard digest == manifest.sha256 else {
            throw BackupError("the rebuilt \(manifest.name) has SHA-256 \(digest.prefix(12))… but the manifest says \(manifest.sha256.prefix(12))…; the backup repository is damaged, restore from another commit with --at")
        }
    }

    /// Writes the full snapshot's chunks at their offsets.
    private func writeFullSnapshot(_ layout: Layout, to file: WritableFile) throws(BackupError) {
        try file.truncate(to: layout.manifest.full.size)
        try forEachChunk(of: layout) { (_, start, bytes) throws(BackupError) in
            try file.write(UnsafeRawBufferPointer(bytes), at: start)
        }
    }

    /// Runs `PRAGMA integrity_check` on a rebuilt file without creating -wal or -shm beside it.
    /// The file matched its backup's SHA-256 before, so a failure here means the database was
    /// already damaged when that backup was taken, and the message says so.
    static func checkIntegrity(of path: String, name: String) throws(BackupError) {
        let allowed = CharacterSet.urlPathAllowed.subtracting(CharacterSet(charactersIn: "?#%"))
        let escaped = path.addingPercentEncoding(withAllowedCharacters: allowed) ?? path
        let damaged = "it matches its backup byte for byte, so the database was already damaged when that backup was taken; restore an earlier one with --at (opsctl backup list)"
        let database: Database
        do {
            database = try Database(path: "file:\(escaped)?immutable=1", mode: .readOnly)
        } catch {
            throw BackupError("the rebuilt \(name) cannot be opened by SQLite (\(error)); \(damaged)")
        }
        let problems: [String]
        do {
            problems = try database.query("PRAGMA integrity_check").compactMap { $0.string(0) }.filter { $0 != "ok" }
        } catch {
            throw BackupError("the rebuilt \(name) fails SQLite's integrity check (\(error)); \(damaged)")
        }
        guard problems.isEmpty else {
            throw BackupError("the rebuilt \(name) fails SQLite's integrity check (\(problems.prefix(3).joined(separator: "; "))); \(damaged)")
        }
    }
}
