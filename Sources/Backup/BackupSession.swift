import Foundation
import Logging
import OpsConfig
import OpsLogging
import Scheduling

/// One backup from start to finish, on the calling thread (libgit2 calls block and keep their
/// error messages per thread, so the whole session stays on one).
///
/// The order makes a SIGKILL at any point harmless: snapshots go to the work directory, objects
/// go into new packs, and only then does the branch move (compare-and-swap against the commit the
/// backup started from). Before the move, the branch still names the previous backup and the new
/// packs are merely unreferenced; after it, the new backup is complete.
struct BackupSession {
    let plan: BackupPlan
    let logger: Logger
    /// How a push that failed for a transport reason is tried again.
    let pushRetry: RetryPolicy
    /// Hears the steps as they are reached (none in opsd and opsctl-backup).
    let observer: BackupStepObserver?
    /// Hears how far each phase got (snapshot, store, commit, push); nil where nobody watches.
    let progress: ProgressReporter?

    func run() throws(BackupError) -> BackupOutcome {
        let started = ContinuousClock.now
        let lock = try BackupLock(repository: plan.repository, stateDirectory: plan.stateDirectory)
        defer { withExtendedLifetime(lock) {} }
        try FileSystem.makeDirectory(plan.workDirectory)
        let swept = Leftovers.remove(repository: plan.repository, workDirectory: plan.workDirectory)
        if swept > 0 { logger.notice("backup: removed files an interrupted backup left behind", metadata: ["files": "\(swept)"]) }
        let repository = try GitRepository.openOrCreate(at: plan.repository)
        let head = try continueBranch(repository)
        try repository.adoptHead(plan.reference)
        let headTree = try head.map { (id) throws(BackupError) in try repository.commit(id).tree }
        let packer = try PackWriter(repository: repository)
        let reassembler = Reassembler(repository: repository)

        // One database or file that fails (not SQLite, unreadable) fails only its own part: the
        // others are stored, and the outcome names each failure.
        var failures: [PartFailure] = []

        // 0. backup.before, in order: a failed one is a failed part, and the backup goes on with
        // whatever its directory holds (the previous export, if any), so one stuck exporter never
        // stops the SQLite databases from being backed up.
        for command in plan.before.map({ BeforeCommand(command: $0, timeout: plan.beforeTimeout, workDirectory: plan.workDirectory) }) {
            do { try command.run(logger: logger) } catch {
                failures.append(PartFailure(kind: .before, part: command.display, reason: error.description))
            }
        }

        // 1. Snapshots first, all of them, so the backup is as close to one moment as possible.
        var steps: [(DatabaseBackup, Int)] = []
        for source in plan.databases {
            let step = DatabaseBackup(source: source, repository: repository, packer: packer, workDirectory: plan.workDirectory, progress: progress)
            do { steps.append((step, try step.snapshot())) } catch {
                failures.append(failed(source, error))
            }
        }
        observer?(.afterSnapshot)

        // 2. Pages and files into packs.
        var databaseTree: [String: TreeNode] = [:]
        var stored: [(DatabaseBackup, DatabaseBackup.Result)] = []
        for (step, pageSize) in steps {
            do {
                let previous = try headTree.flatMap { (tree) throws(BackupError) in try reassembler.manifest(name: step.source.name, tree: tree) }
                let result = try step.store(pageSize: pageSize, previous: previous, previousTree: headTree)
                databaseTree[step.source.name] = result.tree
                stored.append((step, result))
            } catch {
                failures.append(failed(step.source, error))
            }
        }
        let results = stored.map(\.1)
        // A failed database keeps its previous backup's copy (with that backup's time in its
        // manifest), so the newest commit still restores every database it can.
        for failure in failures where failure.kind == .database {
            if let headTree, let previous = try repository.entry("db/\(failure.part)", in: headTree) { databaseTree[failure.part] = .existingTree(previous) }
        }
        let selection = ConfigFiles(paths: plan.files, exclude: plan.exclude, secrets: plan.secretFiles, configPath: plan.configPath).collect()
        let (items, fileTree) = try storeFiles(selection.items, repository: repository, failures: &failures)
        if !failures.isEmpty, results.isEmpty, items.isEmpty {
            throw BackupError("nothing was backed up: " + failures.map(\.description).joined(separator: "; "))
        }
        for path in selection.missing { logger.warning("backup: configured file does not exist; skipped", metadata: ["path": "\(path)"]) }
        for secret in selection.secrets {
            logger.warning("backup: not storing a file the configuration names as a secret; leave it out of backup.files (or exclude it)", metadata: ["path": "\(secret.path)", "key": "\(secret.key)"])
        }
        for link in selection.links {
            logger.warning("backup: symbolic link not followed, not stored; name its target in backup.files instead", metadata: ["path": "\(link)"])
        }
        let masked = items.filter(\.isConfiguration).map(\.path)

        // 3. A commit only when the databases or files differ from the branch's current commit.
        progress?.begin("commit", total: nil)
        let databasesID = try repository.writeTree(databaseTree)
        let filesID = try repository.writeTree(fileTree)
        // An empty section has no entry in the tree at all.
        let newDatabases = databaseTree.isEmpty ? nil : databasesID
        let newFiles = fileTree.isEmpty ? nil : filesID
        let unchanged = try headTree.map { (tree) throws(BackupError) in
            let databasesSame = try repository.entry("db", in: tree) == newDatabases
            let filesSame = try repository.entry("files", in: tree) == newFiles
            return databasesSame && filesSame
        } ?? false
        var commit: ObjectID?
        if !unchanged {
            let manifest = BackupManifest(
                format: DatabaseManifest.currentFormat, host: plan.host, time: ManifestCoding.timestamp(Date()),
                databases: plan.databases.map(\.name).filter { databaseTree[$0] != nil }, files: items.map(\.path), maskedFiles: masked.isEmpty ? nil : masked
            )
            var root: [String: TreeNode] = ["manifest.json": .blob(try repository.writeBlob(try ManifestCoding.encode(manifest)), executable: false)]
            if !databaseTree.isEmpty { root["db"] = .existingTree(databasesID) }
            if !fileTree.isEmpty { root["files"] = .existingTree(filesID) }
            let tree = try repository.writeTree(root)
            let previousFiles = try headTree.flatMap { (tree) throws(BackupError) in try repository.entry("files", in: tree) }
            let message = CommitMessage.summary(
                results.map(\.outcome), fileCount: items.count, filesChanged: previousFiles != newFiles, masked: masked, failures: failures)
            let id = try repository.writeCommit(tree: tree, parent: head, message: message, authorName: "opsd", authorEmail: "opsd@\(plan.host)")
            try packer.flush()
            observer?(.beforeReference)
            // 4. The branch moves last, and only if nobody else moved it meanwhile.
            try repository.updateReference(plan.reference, to: id, expected: head, message: "opsd: backup")
            commit = id
            observer?(.afterReference)
        }
        for (step, result) in stored { try step.promoteSnapshot(sha256: result.sha256) }
        for failure in failures { logger.error("backup: a part failed; the rest was backed up", metadata: ["part": "\(failure.kind.rawValue) \(failure.part)", "error": "\(failure.reason)"]) }

        let push = pushIfConfigured(repository)
        return BackupOutcome(
            commit: commit?.description, branch: plan.branch, databases: results.map(\.outcome), fileCount: items.count,
            missingFiles: selection.missing, secretFilesLeftOut: selection.secrets.map { "\($0.path) (\($0.key))" },
            linksNotFollowed: selection.links, maskedFiles: masked, storedBytes: packer.packedBytes, push: push,
            seconds: (ContinuousClock.now - started).seconds, failures: failures
        )
    }

    private func failed(_ source: BackupPlan.DatabaseSource, _ error: BackupError) -> PartFailure {
        if BackupSpec.isNotSQLite(source.path) {
            return PartFailure(kind: .database, part: source.name, reason: "\(source.path) is not an SQLite database (no \"SQLite format 3\" header); remove it from backup.databases and export it with a backup.before command into a directory under backup.files")
        }
        let reason = error.description.contains(source.path) ? error.description : "\(source.path): \(error.description)"
        return PartFailure(kind: .database, part: source.name, reason: reason)
    }

    /// Writes the files as blobs and returns those stored and the `files/` subtree; a file that
    /// cannot be read is left out and reported, the others are stored.
    private func storeFiles(
        _ items: [ConfigFiles.Item], repository: GitRepository, failures: inout [PartFailure]
    ) throws(BackupError) -> ([ConfigFiles.Item], [String: TreeNode]) {
        do { return (items, try ConfigFiles.tree(items, repository: repository)) } catch {}
        var readable: [ConfigFiles.Item] = []
        for item in items {
            do {
                _ = try FileSystem.readAll(item.path, followLinks: false)
                readable.append(item)
            } catch {
                failures.append(PartFailure(kind: .file, part: item.path, reason: error.description))
            }
        }
        return (readable, try ConfigFiles.tree(readable, repository: repository))
    }

    /// The commit the new backup builds on. Without a local branch (a new machine, a lost
    /// repository) but with a remote, the remote's branch is fetched and continued, so the history
    /// stays one line and the push fast-forwards instead of being refused.
    private func continueBranch(_ repository: GitRepository) throws(BackupError) -> ObjectID? {
        if let local = try repository.resolve(reference: plan.reference) { return local }
        guard let spec = plan.remote else { return nil }
        do {
            try RemoteSync(repository: repository, plan: plan, spec: spec, logger: logger, progress: progress).fetch(requireReadable: !plan.encrypts)
        } catch {
            logger.warning("backup: cannot fetch the remote's branch before the first backup here; starting a new history", metadata: ["error": "\(error.description)"])
        }
        guard let remote = try repository.resolve(reference: plan.remoteReference) else {
            if plan.encrypts, try repository.resolve(reference: EncryptedMirror.reference(plan.branch)) != nil {
                logger.notice("backup: the remote's branch is encrypted and this host has no plaintext of it; starting a new local history, pushed as its continuation", metadata: ["branch": "\(plan.branch)"])
            }
            return nil
        }
        try repository.updateReference(plan.reference, to: remote, expected: nil, message: "opsd: continue the remote's backups")
        logger.notice("backup: continuing the remote's branch", metadata: ["branch": "\(plan.branch)", "commit": "\(remote)"])
        return remote
    }

    /// Pushes every local commit the remote lacks, this backup's and earlier failed ones alike.
    private func pushIfConfigured(_ repository: GitRepository) -> PushOutcome {
        guard let spec = plan.remote else { return PushOutcome(state: .notConfigured, pushedCommits: 0, unpushedCommits: 0) }
        let sync = RemoteSync(repository: repository, plan: plan, spec: spec, logger: logger, progress: progress)
        do {
            let pushed = try sync.push(retry: pushRetry)
            RemoteCompaction(spec, logger: logger)?.afterPush()
            return PushOutcome(state: .pushed, pushedCommits: pushed, unpushedCommits: 0)
        } catch {
            let unpushed = (try? unpushedCommits(repository)) ?? 0
            logger.error("backup push failed; the commits stay local until the next backup", metadata: ["error": "\(error.description)", "unpushed": "\(unpushed)"])
            return PushOutcome(state: .failed, pushedCommits: 0, unpushedCommits: unpushed, error: error.description)
        }
    }

    private func unpushedCommits(_ repository: GitRepository) throws(BackupError) -> Int {
        guard let local = try repository.resolve(reference: plan.reference) else { return 0 }
        return try repository.commitsAhead(local, of: try repository.resolve(reference: plan.remoteReference))
    }
}

/// The commit message: one summary line, then one line per database. Never a secret: only
/// names, sizes and counts.
enum CommitMessage {
    static func summary(_ databases: [DatabaseOutcome], fileCount: Int, filesChanged: Bool, masked: [String] = [], failures: [PartFailure] = []) -> String {
        let changed = databases.filter { $0.layout != .unchanged }
        var parts = changed.map { "\($0.name) \($0.pagesChanged) pages" }
        if filesChanged { parts.append("\(fileCount) file\(fileCount == 1 ? "" : "s")") }
        let stored = changed.reduce(0) { $0 + $1.storedBytes }
        // `backup list` shows the first line: a partial backup says so there.
        let partial = failures.isEmpty ? "" : "PARTIAL, failed: \(failures.map(\.part).joined(separator: ", ")); "
        var lines = ["backup: \(partial)\(parts.isEmpty ? "no change" : parts.joined(separator: ", ")) (+\(ByteCount.format(stored)))", ""]
        for database in databases {
            switch database.layout {
            case .unchanged:
                lines.append("\(database.name): unchanged")
            case .full:
                lines.append("\(database.name): full snapshot, \(database.pageCount) pages, \(ByteCount.format(database.size)), stored \(ByteCount.format(database.storedBytes))")
            case .delta:
                lines.append("\(database.name): \(database.pagesChanged) of \(database.pageCount) pages changed, \(ByteCount.format(database.size)), stored \(ByteCount.format(database.storedBytes))")
            }
        }
        if filesChanged { lines.append("files: \(fileCount) stored, changed since the previous backup") }
        for path in masked { lines.append("files: \(path) is stored with its secret values masked (<masked>)") }
        for failure in failures {
            let kept = failure.kind == .database ? " (the previous backup's copy, if any, is kept)" : ""
            lines.append("FAILED \(failure)\(kept)")
        }
        return lines.joined(separator: "\n") + "\n"
    }
}
