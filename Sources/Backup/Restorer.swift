import FileSafety
import Foundation
import Logging
import OpsLogging
import Synchronization

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
    /// Restore from this branch instead of this host's (`backup.remote.branch`): a new machine
    /// restoring the backups of the one it replaces.
    public var branch: String?
    /// Only say what would be restored where: check the backup's sizes against its objects,
    /// write nothing, stop no worker (a fetch with `fromRemote` still updates the remote-tracking branch).
    public var dryRun: Bool

    /// A request; the defaults restore the latest backup of every database in place.
    public init(
        at: String? = nil, database: String? = nil, to: String? = nil, fromRemote: Bool = false, force: Bool = false, branch: String? = nil,
        dryRun: Bool = false
    ) {
        self.dryRun = dryRun
        self.at = at
        self.database = database
        self.to = to
        self.fromRemote = fromRemote
        self.force = force
        self.branch = branch
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
    /// The directories made for `--to` (mode 0700), outermost first; nil when none were (or,
    /// in a dry run, would be).
    public var createdDirectories: [String]?
    /// True for `--dry-run`: nothing was written, `databases` says what would have been, and
    /// `safetyCopy` is the live file that would have been kept aside.
    public var dryRun: Bool?
}

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

/// Restores databases: check each manifest's sizes against the objects present, rebuild each
/// into a new file beside its destination, verify its SHA-256 and `PRAGMA integrity_check`, give
/// it the live file's owner and mode, and only when every one passed, keep the live file under a
/// unique safety name (a hard link: the live path never goes missing) and rename the restored
/// file over it. In place, only databases configured in backup.databases are restored.
/// Any failure before the swap leaves every live file untouched.
struct Restorer {
    let plan: BackupPlan
    let logger: Logger
    /// Hears the steps as they are reached (none in opsd and opsctl-backup).
    let observer: BackupStepObserver?
    /// Hears how far each phase got (fetch, write, verify); nil where nobody watches.
    let progress: ProgressReporter?

    func restore(_ request: RestoreRequest, hooks: RestoreHooks? = nil) throws(BackupError) -> RestoreOutcome {
        let lock = try BackupLock(repository: plan.repository, stateDirectory: plan.stateDirectory)
        defer { withExtendedLifetime(lock) {} }
        Leftovers.remove(repository: plan.repository, workDirectory: nil)
        let repository = try GitRepository.openOrCreate(at: plan.repository)
        let catalog = BackupCatalog(plan: try plan.onBranch(request.branch), logger: logger, progress: progress, explicitBranch: request.branch != nil)
        let tip = try catalog.tip(repository, fromRemote: request.fromRemote)
        let commit = try select(request.at, from: tip, in: repository)
        let reassembler = Reassembler(repository: repository, progress: progress)

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
            guard manifest.name == name else {
                throw BackupError("db/\(name)/manifest.json names the database \"\(manifest.name)\"; the backup repository is damaged or forged, restore from another commit with --at")
            }
            manifests.append(manifest)
        }
        let (configured, directory) = try destinations(for: manifests, to: request.to)
        let missingDirectories = try directory.map { (path) throws(BackupError) in try TargetDirectory.missing(path) } ?? []
        // A configured path may be a symbolic link (a release directory's db/ pointing at a
        // shared one): the database is the file it leads to. Replacing the link itself would
        // leave the real file with the old data, and take the link's owner and mode (0777).
        let destinations = request.to == nil ? configured.map(Self.linkTarget) : configured
        // Every size is checked against the objects present before anything is stopped or written.
        let layouts = try manifests.map { (manifest) throws(BackupError) in try reassembler.layout(manifest, tree: commit.tree) }
        if request.dryRun {
            return Self.plan(commit: commit, manifests: manifests, destinations: destinations, inPlace: request.to == nil, creating: missingDirectories)
        }
        var stopped: [String] = []
        if request.to == nil, let hooks {
            stopped = try hooks.stopWorkers(configured)
        }
        defer { if let hooks, !stopped.isEmpty { hooks.startWorkers(stopped) } }
        try refuseOpen(destinations, inPlace: request.to == nil, force: request.force)

        // A directory made for --to goes again when the restore fails: nothing is left behind.
        var restoredAll = false
        try TargetDirectory.create(missingDirectories)
        defer { if !restoredAll { TargetDirectory.remove(missingDirectories) } }

        // Rebuild and verify everything before touching anything.
        var prepared: [(manifest: DatabaseManifest, file: WritableFile, destination: String)] = []
        defer { for item in prepared { Snapshot.removeWithSideFiles(item.file.path) } }
        for (layout, destination) in zip(layouts, destinations) {
            Self.removeStaleTemporaries(of: destination)
            let file = try WritableFile(creatingNew: "\(destination).restore-\(getpid()).tmp")
            prepared.append((layout.manifest, file, destination))
            try reassembler.rebuild(layout, into: file, sync: false)
            progress?.begin("check \(layout.manifest.name) (PRAGMA integrity_check)", total: nil)
            // Both must be done before the swap, neither needs the other: the disk writes the
            // file out while SQLite reads it from memory (at 841 MiB, 0.5 s of fsync hidden).
            try Self.concurrently({ () throws(BackupError) in try file.finish() }, { () throws(BackupError) in
                try Reassembler.checkIntegrity(of: file.path, name: layout.manifest.name)
            })
            // The restored file takes the place of the live one, so it takes its owner and mode
            // too: the application that runs as its owner must be able to open it.
            var live = stat()
            if request.to == nil, stat(destination, &live) == 0 {
                try file.setOwnership(owner: live.st_uid, group: live.st_gid, mode: live.st_mode)
                try file.finish()
            }
        }
        observer?(.beforeSwap)

        var restored: [RestoreOutcome.Restored] = []
        for item in prepared {
            var safetyCopy: String?
            if request.to == nil, FileSystem.exists(item.destination) {
                safetyCopy = try SafetyCopy.keep(item.destination)
            }
            // rename(2) replaces the live file atomically: a reader finds the old file or the new
            // one, never no file and never a partial one.
            try FileSystem.rename(item.file.path, item.destination)
            FileSystem.syncDirectory(of: item.destination)
            logger.notice("database restored", metadata: ["database": "\(item.manifest.name)", "path": "\(item.destination)", "commit": "\(commit.id)"])
            restored.append(.init(name: item.manifest.name, path: item.destination, safetyCopy: safetyCopy, size: item.manifest.size, sha256: item.manifest.sha256))
        }
        restoredAll = true
        var outcome = RestoreOutcome(commit: commit.id.description, time: ManifestCoding.timestamp(commit.time), databases: restored)
        outcome.workersRestarted = stopped.isEmpty ? nil : stopped
        outcome.createdDirectories = missingDirectories.isEmpty ? nil : missingDirectories
        return outcome
    }

    /// Runs `first` on a thread of its own while `second` runs here; returns once both have ended,
    /// throwing the first one's error, else the second one's.
    static func concurrently(_ first: @escaping @Sendable () throws(BackupError) -> Void, _ second: () throws(BackupError) -> Void) throws(BackupError) {
        let outcome = Mutex<Result<Void, BackupError>?>(nil)
        let ended = DispatchSemaphore(value: 0)
        DispatchQueue.global().async {
            let result = Result { () throws(BackupError) in try first() }
            outcome.withLock { $0 = result }
            ended.signal()
        }
        let here = Result { () throws(BackupError) in try second() }
        ended.wait()
        try outcome.withLock { $0 }?.get()
        try here.get()
    }

    /// What a restore would do (`--dry-run`), from what has been read and checked so far.
    private static func plan(
        commit: CommitInfo, manifests: [DatabaseManifest], destinations: [String], inPlace: Bool, creating: [String]
    ) -> RestoreOutcome {
        let databases = zip(manifests, destinations).map { manifest, destination in
            // In place, the live file would be kept aside under a name chosen at the swap.
            RestoreOutcome.Restored(
                name: manifest.name, path: destination, safetyCopy: inPlace && FileSystem.exists(destination) ? "\(destination).pre-restore-<time>" : nil,
                size: manifest.size, sha256: manifest.sha256)
        }
        var outcome = RestoreOutcome(commit: commit.id.description, time: ManifestCoding.timestamp(commit.time), databases: databases)
        outcome.createdDirectories = creating.isEmpty ? nil : creating
        outcome.dryRun = true
        return outcome
    }

    /// The file a path leads to, following symbolic links; the path itself when it leads nowhere
    /// (a database restored for the first time).
    static func linkTarget(_ path: String) -> String {
        TrustedDirectory.resolve(path) ?? path
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
    func select(_ at: String?, from tip: ObjectID, in repository: GitRepository) throws(BackupError) -> CommitInfo {
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

    /// Where each database goes, and the directory `--to` writes into (nil in place). In place,
    /// only to a database configured in backup.databases (matched by its name in the
    /// repository): the manifest's `source` is data from the repository, and a forged one must
    /// not choose which file a root restore replaces. `--to` is a directory when it is one, ends
    /// in `/`, or does not exist while several databases are restored; otherwise a file.
    private func destinations(for manifests: [DatabaseManifest], to: String?) throws(BackupError) -> ([String], String?) {
        if let to {
            let isDirectory = FileSystem.isDirectory(to) || to.hasSuffix("/") || (manifests.count > 1 && !FileSystem.exists(to))
            guard isDirectory || manifests.count == 1 else {
                throw BackupError("--to \(to) is a file, but \(manifests.count) databases would be restored; pass a directory (it is created if missing) or choose one with --db")
            }
            let directory = isDirectory ? to : (to as NSString).deletingLastPathComponent
            return (manifests.map { manifest in
                guard isDirectory else { return to }
                let configured = plan.databases.first { $0.name == manifest.name }?.path
                let file = ((configured ?? manifest.source) as NSString).lastPathComponent
                let safe = !file.isEmpty && file != "." && file != ".." && !file.contains("/")
                return (to as NSString).appendingPathComponent(safe ? file : manifest.name + ".db")
            }, directory.isEmpty ? nil : directory)
        }
        let paths = try manifests.map { (manifest) throws(BackupError) in
            guard let database = plan.databases.first(where: { $0.name == manifest.name }) else {
                throw BackupError("the backup's database \"\(manifest.name)\" (from \(manifest.source)) is not in backup.databases, so it is not restored in place; restore it elsewhere with --to, or add it to backup.databases")
            }
            return database.path
        }
        return (paths, nil)
    }

    /// Refuses to replace what is in use or already there, unless `force`.
    private func refuseOpen(_ destinations: [String], inPlace: Bool, force: Bool) throws(BackupError) {
        guard !force else { return }
        for path in destinations {
            if !inPlace {
                if FileSystem.exists(path) { throw BackupError("\(path) already exists; choose another --to or pass --force to replace it") }
                continue
            }
            let users = OpenFiles.processes(using: [path, path + "-wal", path + "-journal"])
            if !users.isEmpty {
                throw BackupError("\(path) is open in process \(users.map(String.init).joined(separator: ", ")); stop it first (or restore elsewhere with --to, or pass --force to replace it anyway)")
            }
        }
    }
}

/// The directory `--to` writes into, made when it is missing: each missing level with mode 0700
/// (a restored database holds the application's data, whoever the parent lets in), and removed
/// again, if still empty, when the restore fails.
enum TargetDirectory {
    /// The levels of `path` that do not exist, outermost first; an error when one that exists is
    /// not a directory.
    static func missing(_ path: String) throws(BackupError) -> [String] {
        var missing: [String] = []
        var current = (path as NSString).standardizingPath
        while !current.isEmpty, current != "/", !FileSystem.exists(current) {
            missing.insert(current, at: 0)
            current = (current as NSString).deletingLastPathComponent
        }
        if !current.isEmpty, !FileSystem.isDirectory(current) {
            throw BackupError("cannot create the directory \(path) for --to: \(current) exists and is not a directory; choose another --to; nothing was restored")
        }
        return missing
    }

    /// Makes each directory (0700), outermost first.
    static func create(_ directories: [String]) throws(BackupError) {
        for (index, directory) in directories.enumerated() where mkdir(directory, 0o700) != 0 {
            let reason = String(cString: strerror(errno))
            remove(Array(directories.prefix(index)))
            throw BackupError("cannot create the directory \(directory) for --to (\(reason)); create it yourself (mkdir -p -m 700 \(directories.last ?? directory)) or choose another --to; nothing was restored")
        }
    }

    /// Removes the directories made, innermost first, each only if empty.
    static func remove(_ directories: [String]) {
        for directory in directories.reversed() { rmdir(directory) }
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
