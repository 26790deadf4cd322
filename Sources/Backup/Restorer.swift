import Foundation
import Logging

/// What `opsctl restore` asks for.
public struct RestoreRequest: Sendable, Equatable {
    /// `latest` (or nil), a commit id (abbreviated is fine), or a date/time: the last backup at or
    /// before it (`2026-11-20` means the end of that day, UTC; `2026-11-20T14:00:00Z` an instant).
    public var at: String?
    /// Only this database (by its name in the repository); nil: all of them.
    public var database: String?
    /// Write the restored file here (a file, or an existing directory) instead of over the live one.
    public var to: String?
    /// Fetch from the remote first and restore from what it has.
    public var fromRemote: Bool
    /// Restore over a live database even though a process has it open.
    public var force: Bool

    /// A request; the defaults restore the latest backup of every database in place.
    public init(at: String? = nil, database: String? = nil, to: String? = nil, fromRemote: Bool = false, force: Bool = false) {
        self.at = at
        self.database = database
        self.to = to
        self.fromRemote = fromRemote
        self.force = force
    }
}

/// What a restore did.
public struct RestoreOutcome: Sendable, Equatable, Codable {
    /// One restored database.
    public struct Restored: Sendable, Equatable, Codable {
        /// Its name in the repository.
        public var name: String
        /// Where the restored file now is.
        public var path: String
        /// Where the file that was there before went (nil when there was none, or with --to).
        public var safetyCopy: String?
        /// The restored file's size.
        public var size: Int
        /// Its SHA-256, as verified.
        public var sha256: String
    }

    /// The backup commit restored from.
    public var commit: String
    /// The workers stopped for the swap and started again (nil when none were).
    public var workersRestarted: [String]?
    /// When that backup was made.
    public var time: String
    /// The databases restored.
    public var databases: [Restored]
}

/// Restores databases: rebuild each into a temporary file beside its destination, verify its
/// SHA-256 and `PRAGMA integrity_check`, and only when every one passed, move the live file (and
/// its -wal/-shm) aside to a timestamped safety copy and rename the restored file into place.
/// What a restore in place does around the swap: stop the workers that use the databases
/// (before the "is it open?" check, which they would fail), and start them again afterwards,
/// whether the restore succeeded or not.
public struct RestoreHooks: Sendable {
    /// Stops the workers of these database paths; returns the workers it stopped.
    public var stopWorkers: @Sendable (_ databases: [String]) throws(BackupError) -> [String]
    /// Starts these workers again.
    public var startWorkers: @Sendable (_ workers: [String]) -> Void

    /// Hooks from two closures.
    public init(
        stopWorkers: @escaping @Sendable (_ databases: [String]) throws(BackupError) -> [String],
        startWorkers: @escaping @Sendable (_ workers: [String]) -> Void
    ) {
        self.stopWorkers = stopWorkers
        self.startWorkers = startWorkers
    }
}

/// Any failure before the swap leaves every live file untouched.
struct Restorer {
    let plan: BackupPlan
    let logger: Logger

    func restore(_ request: RestoreRequest, hooks: RestoreHooks? = nil) throws(BackupError) -> RestoreOutcome {
        let lock = try BackupLock(repository: plan.repository)
        defer { withExtendedLifetime(lock) {} }
        let repository = try GitRepository.openOrCreate(at: plan.repository)
        let tip = try BackupCatalog(plan: plan, logger: logger).tip(repository, fromRemote: request.fromRemote)
        let commit = try select(request.at, from: tip, in: repository)
        let reassembler = Reassembler(repository: repository)

        guard let databasesTree = try repository.entry("db", in: commit.tree) else {
            throw BackupError("backup \(commit.id.description.prefix(12)) holds no database")
        }
        var names = try repository.entryNames(of: databasesTree)
        if let wanted = request.database {
            guard names.contains(wanted) else {
                throw BackupError("backup \(commit.id.description.prefix(12)) has no database named \"\(wanted)\"; it has: \(names.joined(separator: ", "))")
            }
            names = [wanted]
        }
        var manifests: [DatabaseManifest] = []
        for name in names {
            guard let manifest = try reassembler.manifest(name: name, tree: commit.tree) else {
                throw BackupError("db/\(name)/manifest.json is missing from backup \(commit.id.description.prefix(12)); the repository is damaged, restore from another commit with --at")
            }
            manifests.append(manifest)
        }
        var stopped: [String] = []
        if request.to == nil, let hooks {
            stopped = try hooks.stopWorkers(manifests.map(\.source))
        }
        defer { if let hooks, !stopped.isEmpty { hooks.startWorkers(stopped) } }
        let destinations = try destinations(for: manifests, to: request.to, force: request.force)

        // Rebuild and verify everything before touching anything.
        var prepared: [(manifest: DatabaseManifest, temporary: String, destination: String)] = []
        defer { for item in prepared { Snapshot.removeWithSideFiles(item.temporary) } }
        for (manifest, destination) in zip(manifests, destinations) {
            Self.removeStaleTemporaries(of: destination)
            let temporary = "\(destination).restore-\(getpid()).tmp"
            prepared.append((manifest, temporary, destination))
            try reassembler.rebuild(manifest, tree: commit.tree, to: temporary)
            try Reassembler.checkIntegrity(of: temporary, name: manifest.name)
        }
        PausePoint.beforeSwap.reach()

        var restored: [RestoreOutcome.Restored] = []
        let stamp = Self.stamp(Date())
        for item in prepared {
            var safetyCopy: String?
            if request.to == nil, FileSystem.exists(item.destination) {
                let aside = "\(item.destination).pre-restore-\(stamp)"
                // A hard link keeps the old file under its new name while the live name still
                // points at it, so no moment leaves the live path without a database.
                if link(item.destination, aside) != 0 { try FileSystem.rename(item.destination, aside) }
                // The -wal holds committed pages of the old file: it must go with it, never be
                // replayed into the restored one.
                for suffix in ["-wal", "-shm", "-journal"] where FileSystem.exists(item.destination + suffix) {
                    try FileSystem.rename(item.destination + suffix, aside + suffix)
                }
                safetyCopy = aside
            }
            // rename(2) replaces the live file atomically.
            try FileSystem.rename(item.temporary, item.destination)
            FileSystem.syncDirectory(of: item.destination)
            logger.notice("database restored", metadata: ["database": "\(item.manifest.name)", "path": "\(item.destination)", "commit": "\(commit.id)"])
            restored.append(.init(name: item.manifest.name, path: item.destination, safetyCopy: safetyCopy, size: item.manifest.size, sha256: item.manifest.sha256))
        }
        var outcome = RestoreOutcome(commit: commit.id.description, time: ManifestCoding.timestamp(commit.time), databases: restored)
        outcome.workersRestarted = stopped.isEmpty ? nil : stopped
        return outcome
    }

    /// Removes what a killed restore left beside `destination`; the lock says none is running now.
    private static func removeStaleTemporaries(of destination: String) {
        let directory = (destination as NSString).deletingLastPathComponent
        let prefix = (destination as NSString).lastPathComponent + ".restore-"
        for name in (try? FileManager.default.contentsOfDirectory(atPath: directory.isEmpty ? "." : directory)) ?? []
        where name.hasPrefix(prefix) && name.hasSuffix(".tmp") {
            Snapshot.removeWithSideFiles((directory as NSString).appendingPathComponent(name))
        }
    }

    /// Picks the commit for `--at`.
    private func select(_ at: String?, from tip: ObjectID, in repository: GitRepository) throws(BackupError) -> CommitInfo {
        guard let at, at != "latest" else { return try repository.commit(tip) }
        if let date = Self.parseDate(at) {
            var next: ObjectID? = tip
            while let id = next {
                let commit = try repository.commit(id)
                if commit.time <= date { return commit }
                next = commit.parent
            }
            throw BackupError("there is no backup at or before \(at); the oldest is listed last by `opsctl backup list`")
        }
        let id = try repository.resolveCommit(at)
        return try repository.commit(id)
    }

    /// A date (`2026-11-20`, the end of that day in UTC) or an ISO 8601 instant.
    static func parseDate(_ text: String) -> Date? {
        if let instant = try? Date(text, strategy: .iso8601) { return instant }
        let day = Date.ISO8601FormatStyle().year().month().day()
        guard text.count == 10, let start = try? Date(text, strategy: day) else { return nil }
        return start.addingTimeInterval(86_399)
    }

    /// Where each database goes, refusing what would lose data.
    private func destinations(for manifests: [DatabaseManifest], to: String?, force: Bool) throws(BackupError) -> [String] {
        if let to {
            let isDirectory = FileSystem.isDirectory(to)
            guard isDirectory || manifests.count == 1 else {
                throw BackupError("--to \(to) is not a directory, but \(manifests.count) databases would be restored; pass an existing directory or choose one with --db")
            }
            return try manifests.map { (manifest) throws(BackupError) in
                let path = isDirectory ? (to as NSString).appendingPathComponent((manifest.source as NSString).lastPathComponent) : to
                if FileSystem.exists(path), !force {
                    throw BackupError("\(path) already exists; choose another --to or pass --force to replace it")
                }
                return path
            }
        }
        return try manifests.map { (manifest) throws(BackupError) in
            let users = OpenFiles.processes(using: [manifest.source, manifest.source + "-wal", manifest.source + "-journal"])
            if !users.isEmpty, !force {
                throw BackupError("\(manifest.source) is open in process \(users.map(String.init).joined(separator: ", ")); stop it first (or restore elsewhere with --to, or pass --force to replace it anyway)")
            }
            return manifest.source
        }
    }

    private static func stamp(_ date: Date) -> String {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = "yyyyMMdd'T'HHmmss'Z'"
        return formatter.string(from: date)
    }
}

/// Which processes have a file open, from /proc (Linux): how restore tells that a database is in use.
enum OpenFiles {
    static func processes(using paths: [String]) -> [Int32] {
        let targets = Set(paths.map { ($0 as NSString).standardizingPath })
        let me = getpid()
        var found: [Int32] = []
        for entry in (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? [] {
            guard let pid = Int32(entry), pid != me else { continue }
            let fdDirectory = "/proc/\(entry)/fd"
            for fd in (try? FileManager.default.contentsOfDirectory(atPath: fdDirectory)) ?? [] {
                if let target = try? FileManager.default.destinationOfSymbolicLink(atPath: "\(fdDirectory)/\(fd)"), targets.contains(target) {
                    found.append(pid)
                    break
                }
            }
        }
        return found.sorted()
    }
}
