import Foundation
import OpsLogging

/// What happened to one database in one backup.
public struct DatabaseOutcome: Sendable, Equatable, Codable {
    /// How the database was stored this time.
    public enum Layout: String, Sendable, Codable {
        /// Nothing changed since the previous backup; its tree is reused.
        case unchanged
        /// A new full snapshot (the first backup, or the chain got long enough to restart).
        case full
        /// The bytes that changed since the previous backup, as patches.
        case delta
    }

    /// The database's name in the repository.
    public var name: String
    /// The live file.
    public var path: String
    /// How it was stored.
    public var layout: Layout
    /// The snapshot's size in bytes.
    public var size: Int
    /// Pages in the snapshot.
    public var pageCount: Int
    /// Pages that differ from the previous backup (all of them for a first full snapshot).
    public var pagesChanged: Int
    /// Bytes this database added to the repository (pack sizes).
    public var storedBytes: Int
}

/// Backs up one database: snapshot, compare with the previous snapshot, store a delta or a full
/// copy, and produce its subtree `db/<name>/`.
///
/// The previous snapshot is kept in the work directory (`<name>.base`, with `<name>.base.json`
/// naming its SHA-256), so the comparison reads two local files instead of the repository. When the
/// base is missing or does not match the previous manifest (a crash between the reference update
/// and the base update, a new state directory), it is rebuilt from the repository first.
struct DatabaseBackup {
    let source: BackupPlan.DatabaseSource
    let repository: GitRepository
    let packer: PackWriter
    let workDirectory: String
    /// Hears how far the snapshot and the store got; nil where nobody watches.
    var progress: ProgressReporter? = nil

    /// Start a new full snapshot when the chain has this many deltas…
    static let maximumChainLength = 100
    /// …or when the deltas together took this fraction of the full snapshot's stored size, so
    /// restoring never reads much more than one full copy, and growth stays near the delta size.
    static let maximumChainFraction = 0.5
    /// …or when it holds this many zstd patches. A patch is a few percent of the file, so the
    /// rules above would let a chain hold dozens, and a restore decodes each one over the whole
    /// file (about a second per patch at 164 MiB): with a weekly VACUUM this bounds a restore's
    /// extra work to 8 passes and costs one full snapshot every 8 weeks.
    static let maximumPatches = 8

    /// Page records beyond this fraction of the file (a VACUUM makes them nearly the whole file;
    /// 1 % of rows updated, 0.6 %) are held up against a zstd patch, and the smaller is stored…
    static let patchFraction = 0.1
    /// …and never more than this many bytes of records are held in memory while deciding.
    static let patchThresholdCap = 4 * PageDelta.partBytes

    /// The size of page records past which a zstd patch is tried, for a file of `size` bytes.
    static func patchThreshold(size: Int) -> Int {
        min(Int(Double(size) * patchFraction), patchThresholdCap)
    }

    var snapshotPath: String { "\(workDirectory)/\(source.name).snapshot" }
    var basePath: String { "\(workDirectory)/\(source.name).base" }
    var baseInfoPath: String { "\(workDirectory)/\(source.name).base.json" }

    /// The result of `run`: the subtree to put at `db/<name>`, and what was done.
    struct Result {
        var tree: TreeNode
        var outcome: DatabaseOutcome
        /// The snapshot's SHA-256, recorded beside the base once the commit is referenced.
        var sha256: String
    }

    /// Takes the snapshot (step 1 of a backup); the pages are compared in `store`.
    func snapshot() throws(BackupError) -> Int {
        try Snapshot.take(of: source.path, to: snapshotPath, name: source.name, progress: progress)
    }

    /// Stores the snapshot against `previous` (the manifest in the branch's current commit).
    func store(pageSize: Int, previous: DatabaseManifest?, previousTree: ObjectID?) throws(BackupError) -> Result {
        let now = ManifestCoding.timestamp(Date())
        if let progress { progress.begin("store \(source.name)", total: try ReadableFile(snapshotPath).size()) }
        if let previous, let previousTree, previous.pageSize == pageSize, !chainIsFull(previous) {
            try ensureBase(matching: previous, tree: previousTree)
            return try storeDelta(pageSize: pageSize, previous: previous, previousTree: previousTree, now: now)
        }
        let digest = try SHA256Hasher.file(snapshotPath)
        if let previous, let previousTree, previous.sha256 == digest, let subtree = try repository.entry("db/\(source.name)", in: previousTree) {
            return Result(tree: .existingTree(subtree), outcome: outcome(.unchanged, previous.size, pageSize, 0, 0), sha256: digest)
        }
        return try storeFull(pageSize: pageSize, digest: digest, now: now)
    }

    private func chainIsFull(_ manifest: DatabaseManifest) -> Bool {
        let deltaBytes = manifest.deltas.reduce(0) { $0 + $1.storedBytes }
        return manifest.deltas.count >= Self.maximumChainLength
            || Double(deltaBytes) >= Self.maximumChainFraction * Double(max(manifest.full.storedBytes, 1))
            || manifest.deltas.count(where: { $0.encoding == ZstdPatch.encoding }) >= Self.maximumPatches
    }

    private func storeFull(pageSize: Int, digest: String, now: String) throws(BackupError) -> Result {
        let file = try ReadableFile(snapshotPath)
        let size = try file.size()
        var chunks: [String: TreeNode] = [:]
        var names: [String] = []
        var offset = 0
        while offset < size {
            // Each chunk is a buffer of its own: it is deflated on a worker while the next is read.
            var chunk = [UInt8](repeating: 0, count: min(PageDelta.chunkBytes, size - offset))
            let count = try file.read(into: &chunk, at: offset)
            if count == 0 { break }
            if count < chunk.count { chunk.removeLast(chunk.count - count) }
            let id = try packer.writeChunk(chunk)
            let name = String(format: "%06d", names.count)
            chunks[name] = .blob(id, executable: false)
            names.append("full/" + name)
            offset += count
            progress?.update(done: offset)
        }
        let stored = try packer.flush()
        let manifest = DatabaseManifest(
            format: DatabaseManifest.currentFormat, name: source.name, source: source.path, size: offset, pageSize: pageSize,
            pageCount: offset / pageSize, sha256: digest, sqliteVersion: BackupLibraries.sqlite, time: now,
            full: .init(chunks: names, size: offset, sha256: digest, time: now, storedBytes: stored), deltas: []
        )
        let tree: [String: TreeNode] = ["manifest.json": .blob(try repository.writeBlob(try ManifestCoding.encode(manifest)), executable: false), "full": .tree(chunks)]
        return Result(tree: .tree(tree), outcome: outcome(.full, offset, pageSize, offset / pageSize, stored), sha256: digest)
    }

    private func storeDelta(pageSize: Int, previous: DatabaseManifest, previousTree: ObjectID, now: String) throws(BackupError) -> Result {
        let sequence = previous.deltas.count + 1
        let compared = progress.map { progress in { (bytes: Int) in progress.update(done: bytes) } }
        let size = try ReadableFile(snapshotPath).size()
        var records = RecordParts(limit: Self.patchThreshold(size: size))
        let comparison = try PageDelta.compare(current: snapshotPath, base: basePath, pageSize: pageSize, progress: compared) { (offset, bytes) throws(BackupError) in
            records.append(offset: offset, bytes)
        }
        if comparison.changedPages == 0, comparison.size == previous.size, let subtree = try repository.entry("db/\(source.name)", in: previousTree) {
            return Result(tree: .existingTree(subtree), outcome: outcome(.unchanged, previous.size, pageSize, 0, 0), sha256: comparison.sha256)
        }
        var encoding: String? = nil
        var parts = records.finished
        if records.overflowed {
            // Large page records mean content moved across pages (a VACUUM): a byte-level patch
            // against the previous version finds it where it went. The records are kept when
            // the patch is no smaller; they are made again then, now without a limit.
            if let patch = try ZstdPatch.encode(current: snapshotPath, reference: basePath, limit: records.total) {
                encoding = ZstdPatch.encoding
                parts = stride(from: 0, to: patch.count, by: PageDelta.partBytes).map { Array(patch[$0..<min($0 + PageDelta.partBytes, patch.count)]) }
            } else {
                var all = RecordParts(limit: .max)
                _ = try PageDelta.compare(current: snapshotPath, base: basePath, pageSize: pageSize) { (offset, bytes) throws(BackupError) in
                    all.append(offset: offset, bytes)
                }
                parts = all.finished
            }
        }
        var newParts: [String: TreeNode] = [:]
        var partNames: [String] = []
        for part in parts {
            let name = String(format: "%06d-%02d", sequence, partNames.count)
            newParts[name] = .blob(try repository.writeBlob(part), executable: false)
            partNames.append("delta/" + name)
            packer.noteWritten(part.count)
        }
        let stored = try packer.flush()
        var manifest = previous
        manifest.source = source.path
        manifest.size = comparison.size
        manifest.pageCount = comparison.size / pageSize
        manifest.sha256 = comparison.sha256
        manifest.sqliteVersion = BackupLibraries.sqlite
        manifest.time = now
        manifest.deltas.append(.init(
            parts: partNames, size: comparison.size, pagesChanged: comparison.changedPages,
            sha256: comparison.sha256, time: now, storedBytes: stored, encoding: encoding
        ))
        // The previous deltas stay in the tree, so every commit is self-contained: its tree holds
        // the full snapshot and the whole chain, all shared with earlier commits at no cost.
        var deltaTree = newParts
        if let previousDeltas = try repository.entry("db/\(source.name)/delta", in: previousTree) {
            for name in try repository.entryNames(of: previousDeltas) {
                if let id = try repository.entry(name, in: previousDeltas) { deltaTree[name] = .blob(id, executable: false) }
            }
        }
        guard let fullTree = try repository.entry("db/\(source.name)/full", in: previousTree) else {
            throw BackupError("db/\(source.name)/full is missing from the previous backup; the repository is damaged")
        }
        let tree: [String: TreeNode] = [
            "manifest.json": .blob(try repository.writeBlob(try ManifestCoding.encode(manifest)), executable: false),
            "full": .existingTree(fullTree),
            "delta": .tree(deltaTree),
        ]
        return Result(
            tree: .tree(tree),
            outcome: outcome(.delta, comparison.size, pageSize, comparison.changedPages, stored),
            sha256: comparison.sha256
        )
    }

    /// Makes sure `<name>.base` is the database as of `previous`, rebuilding it from the repository
    /// when the local copy is missing or stale.
    private func ensureBase(matching previous: DatabaseManifest, tree: ObjectID) throws(BackupError) {
        if let info = try? FileSystem.readAll(baseInfoPath), String(decoding: info, as: UTF8.self) == previous.sha256,
           let size = try? ReadableFile(basePath).size(), size == previous.size {
            return
        }
        unlink(baseInfoPath)
        try Reassembler(repository: repository).rebuild(previous, tree: tree, to: basePath)
        try FileSystem.writeAtomically(Array(previous.sha256.utf8), to: baseInfoPath)
    }

    /// After the branch points at the new commit: the snapshot becomes the base for the next backup.
    /// The info file goes first, so a crash in between leaves a base that is rebuilt, never trusted.
    func promoteSnapshot(sha256: String) throws(BackupError) {
        unlink(baseInfoPath)
        try FileSystem.rename(snapshotPath, basePath)
        try FileSystem.writeAtomically(Array(sha256.utf8), to: baseInfoPath)
    }

    private func outcome(_ layout: DatabaseOutcome.Layout, _ size: Int, _ pageSize: Int, _ changed: Int, _ stored: Int) -> DatabaseOutcome {
        DatabaseOutcome(name: source.name, path: source.path, layout: layout, size: size, pageCount: size / pageSize, pagesChanged: changed, storedBytes: stored)
    }
}

/// A delta's page records cut into parts, held in memory up to `limit` bytes: past it they are
/// dropped and only counted, for the comparison with a zstd patch.
struct RecordParts {
    let limit: Int
    private(set) var parts: [[UInt8]] = []
    private var buffer: [UInt8] = []
    /// Bytes of records seen, kept or not.
    private(set) var total = 0
    /// True once `total` passed `limit`: `parts` is then empty.
    private(set) var overflowed = false

    init(limit: Int) { self.limit = limit }

    /// Adds one record (`PageDelta`'s format: offset, length, bytes).
    mutating func append(offset: Int, _ bytes: UnsafeRawBufferPointer) {
        total += PageDelta.headerBytes + bytes.count
        if overflowed { return }
        if total > limit {
            overflowed = true
            parts = []
            buffer = []
            return
        }
        var position = UInt64(offset).bigEndian
        var length = UInt32(bytes.count).bigEndian
        withUnsafeBytes(of: &position) { buffer.append(contentsOf: $0) }
        withUnsafeBytes(of: &length) { buffer.append(contentsOf: $0) }
        buffer.append(contentsOf: bytes)
        if buffer.count >= PageDelta.partBytes { closePart() }
    }

    /// The parts, the last one closed.
    var finished: [[UInt8]] {
        var copy = self
        copy.closePart()
        return copy.parts
    }

    private mutating func closePart() {
        guard !buffer.isEmpty else { return }
        parts.append(buffer)
        buffer = []
    }
}
