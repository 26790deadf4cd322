import Foundation
import Synchronization
import StateStore

/// Rebuilds a database file from a backup commit: the full snapshot's chunks, then each delta
/// in order, then a check of the whole file's SHA-256 against the manifest.
struct Reassembler {
    let repository: GitRepository

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

    /// Writes the database described by `manifest` (found in `tree`) to `path` and verifies it.
    func rebuild(_ manifest: DatabaseManifest, tree: ObjectID, to path: String) throws(BackupError) {
        let directory = "db/\(manifest.name)/"
        let file = try WritableFile(creating: path)
        try writeFullSnapshot(manifest, tree: tree, to: file)
        for delta in manifest.deltas {
            for part in delta.parts {
                guard let id = try repository.entry(directory + part, in: tree) else {
                    throw BackupError("\(directory + part) is missing from the backup; the repository is damaged, restore from another commit with --at")
                }
                try PageDelta.apply(part: try repository.readBlob(id), to: file, what: directory + part)
            }
            try file.truncate(to: delta.size)
        }
        try file.truncate(to: manifest.size)
        try file.finish()
        let digest = try SHA256Hasher.file(path)
        guard digest == manifest.sha256 else {
            throw BackupError("the rebuilt \(manifest.name) has SHA-256 \(digest.prefix(12))… but the manifest says \(manifest.sha256.prefix(12))…; the backup repository is damaged, restore from another commit with --at")
        }
    }

    /// Writes the full snapshot's chunks at their offsets. Inflating the chunks is most of a
    /// restore's time, so it runs on up to four threads, each with its own repository handle
    /// (libgit2 objects are not thread-safe).
    private func writeFullSnapshot(_ manifest: DatabaseManifest, tree: ObjectID, to file: WritableFile) throws(BackupError) {
        let directory = "db/\(manifest.name)/"
        var chunks: [(id: ObjectID, offset: Int)] = []
        var total = 0
        for chunk in manifest.full.chunks {
            guard let id = try repository.entry(directory + chunk, in: tree) else {
                throw BackupError("\(directory + chunk) is missing from the backup; the repository is damaged, restore from another commit with --at")
            }
            chunks.append((id, total))
            total += try repository.objectSize(id)
        }
        guard total == manifest.full.size else {
            throw BackupError("the full snapshot of \(manifest.name) has \(total) bytes instead of \(manifest.full.size); the backup repository is damaged")
        }
        try file.truncate(to: total)
        let workers = max(1, min(ProcessInfo.processInfo.activeProcessorCount, 4, chunks.count))
        let failure = Mutex<BackupError?>(nil)
        let path = repository.path
        let placements = chunks
        DispatchQueue.concurrentPerform(iterations: workers) { worker in
            do throws(BackupError) {
                let handle = try GitRepository.openOrCreate(at: path)
                for index in stride(from: worker, to: placements.count, by: workers) {
                    if failure.withLock({ $0 != nil }) { return }
                    let bytes = try handle.readBlob(placements[index].id)
                    try bytes.withBytes { (raw) throws(BackupError) in try file.write(raw, at: placements[index].offset) }
                }
            } catch {
                failure.withLock { $0 = $0 ?? error }
            }
        }
        if let error = failure.withLock({ $0 }) { throw error }
    }

    /// Runs `PRAGMA integrity_check` on a rebuilt file without creating -wal or -shm beside it.
    static func checkIntegrity(of path: String, name: String) throws(BackupError) {
        let allowed = CharacterSet.urlPathAllowed.subtracting(CharacterSet(charactersIn: "?#%"))
        let escaped = path.addingPercentEncoding(withAllowedCharacters: allowed) ?? path
        do {
            let database = try Database(path: "file:\(escaped)?immutable=1", mode: .readOnly)
            let rows = try database.query("PRAGMA integrity_check")
            let problems = rows.compactMap { $0.string(0) }.filter { $0 != "ok" }
            guard problems.isEmpty else {
                throw BackupError("the rebuilt \(name) fails SQLite's integrity check (\(problems.prefix(3).joined(separator: "; "))); restore from another commit with --at")
            }
        } catch let error as BackupError {
            throw error
        } catch {
            throw BackupError("the rebuilt \(name) cannot be opened by SQLite (\(error)); restore from another commit with --at")
        }
    }
}
