import Foundation
import Logging
import OpsLogging

/// What `opsctl restore --files` asks for.
public struct FileRestoreRequest: Sendable, Equatable {
    /// As `RestoreRequest.at`: latest (nil), a commit, a date or an instant.
    public var at: String?
    /// Write under this directory (`DIR/etc/app/config.yaml`) instead of over the files themselves.
    public var to: String?
    /// Fetch from the remote first.
    public var fromRemote: Bool
    /// Another host's branch.
    public var branch: String?
    /// Only show the differences; write nothing.
    public var dryRun: Bool

    /// A request; the defaults restore the latest backup's files in place.
    public init(at: String? = nil, to: String? = nil, fromRemote: Bool = false, branch: String? = nil, dryRun: Bool = false) {
        self.at = at
        self.to = to
        self.fromRemote = fromRemote
        self.branch = branch
        self.dryRun = dryRun
    }
}

/// What `restore --files` did, or would do.
public struct FileRestoreOutcome: Sendable, Equatable, Codable {
    /// One backed-up file.
    public struct File: Sendable, Equatable, Codable {
        /// Its path when it was backed up.
        public var path: String
        /// Where it is (or would be) written.
        public var target: String
        /// `unchanged` (the target already has these bytes: not written), `changed` or `new`.
        public var state: String
        /// `diff -u` of the target's current bytes against the backed-up ones (nil when unchanged).
        public var diff: String?
        /// Where the replaced file was kept (nil when none was replaced, or in a dry run).
        public var safetyCopy: String?
    }

    /// The backup commit.
    public var commit: String
    /// When that backup was made.
    public var time: String
    /// Every file of the backup but the masked ones.
    public var files: [File]
    /// Files stored with their secret values masked (the configuration): never restored, since
    /// that would overwrite the secrets; take them by hand from `git show`.
    public var masked: [String]
    /// True for a dry run: nothing was written.
    public var dryRun: Bool?
}

/// Restores the files of `backup.files` from a backup: each differing file is shown as a unified
/// diff, then written beside its target and renamed over it (an existing one kept as
/// `FILE.pre-restore-<time>`, with its owner and mode given to the new one; a new file is 0600).
struct FileRestorer {
    let plan: BackupPlan
    let logger: Logger
    let progress: ProgressReporter?

    func restore(_ request: FileRestoreRequest) throws(BackupError) -> FileRestoreOutcome {
        let lock = try BackupLock(repository: plan.repository, stateDirectory: plan.stateDirectory)
        defer { withExtendedLifetime(lock) {} }
        let repository = try GitRepository.openOrCreate(at: plan.repository)
        let catalog = BackupCatalog(plan: try plan.onBranch(request.branch), logger: logger, progress: progress, explicitBranch: request.branch != nil)
        let tip = try catalog.tip(repository, fromRemote: request.fromRemote)
        let commit = try Restorer(plan: plan, logger: logger, observer: nil, progress: nil).select(request.at, from: tip, in: repository)
        guard let manifestID = try repository.entry("manifest.json", in: commit.tree) else {
            throw BackupError("backup \(commit.id.description.prefix(12)) has no manifest.json; the repository is damaged, restore from another commit with --at")
        }
        let manifest = try ManifestCoding.decode(BackupManifest.self, from: try repository.readBlob(manifestID), what: "manifest.json")
        let masked = Set(manifest.maskedFiles ?? [])
        var files: [FileRestoreOutcome.File] = []
        var contents: [[UInt8]] = []
        var created: [String] = []
        var written = false
        defer { if !written { TargetDirectory.remove(created) } }
        for path in manifest.files where !masked.contains(path) {
            // The path is data from the repository: it must stay inside files/ and inside --to.
            guard path.hasPrefix("/"), !path.split(separator: "/").contains(where: { $0 == ".." || $0 == "." }) else {
                throw BackupError("manifest.json lists the file \"\(path)\", which is not a plain absolute path; the backup repository is damaged or forged")
            }
            guard let blob = try repository.entry("files" + path, in: commit.tree) else {
                throw BackupError("files\(path) is missing from backup \(commit.id.description.prefix(12)); the repository is damaged, restore from another commit with --at")
            }
            let bytes = try repository.readBlob(blob)
            let target = request.to.map { ($0 as NSString).appendingPathComponent(String(path.dropFirst())) } ?? path
            let current = FileSystem.isRegularFile(target) ? try FileSystem.readAll(target, followLinks: false) : nil
            let state = current == nil ? "new" : current == bytes ? "unchanged" : "changed"
            let diff = state == "unchanged" ? nil : try UnifiedDiff.of(current: current, target: target, backedUp: bytes, commit: commit.id.description)
            files.append(.init(path: path, target: target, state: state, diff: diff))
            contents.append(bytes)
        }
        var outcome = FileRestoreOutcome(
            commit: commit.id.description, time: ManifestCoding.timestamp(commit.time), files: files, masked: manifest.files.filter(masked.contains))
        if request.dryRun {
            outcome.dryRun = true
            return outcome
        }
        for index in outcome.files.indices where outcome.files[index].state != "unchanged" {
            let target = outcome.files[index].target
            let missing = try TargetDirectory.missing((target as NSString).deletingLastPathComponent)
            try TargetDirectory.create(missing)
            created += missing
            outcome.files[index].safetyCopy = try Self.write(contents[index], over: target)
            logger.notice("file restored", metadata: ["path": "\(target)", "commit": "\(commit.id)"])
        }
        written = true
        return outcome
    }

    /// Writes `bytes` beside `target` and renames it over; returns the safety copy of the file replaced.
    private static func write(_ bytes: [UInt8], over target: String) throws(BackupError) -> String? {
        let temporary = "\(target).restore-\(getpid()).tmp"
        unlink(temporary)
        let file = try WritableFile(creatingNew: temporary)
        var done = false
        defer { if !done { unlink(temporary) } }
        try bytes.withBytes { (raw) throws(BackupError) in try file.write(raw, at: 0) }
        var live = stat()
        if stat(target, &live) == 0 { try file.setOwnership(owner: live.st_uid, group: live.st_gid, mode: live.st_mode) }
        try file.finish()
        let aside = FileSystem.exists(target) ? try SafetyCopy.keep(target) : nil
        try FileSystem.rename(temporary, target)
        done = true
        FileSystem.syncDirectory(of: target)
        return aside
    }
}

/// `diff -u` (Debian's diffutils) between a file's current bytes and backed-up ones.
enum UnifiedDiff {
    static func of(current: [UInt8]?, target: String, backedUp: [UInt8], commit: String) throws(BackupError) -> String {
        let scratch = NSTemporaryDirectory() + "opsd-restore-diff-\(getpid())-\(UUID().uuidString.prefix(8))"
        defer { unlink(scratch) }
        do { try Data(backedUp).write(to: URL(fileURLWithPath: scratch)) } catch {
            throw BackupError("cannot write a temporary file for the diff of \(target): \(error.localizedDescription)")
        }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/diff")
        process.arguments = ["-u", "--label", current == nil ? "/dev/null" : "\(target) (now)", "--label", "\(target) (backup \(commit.prefix(12)))",
                             current == nil ? "/dev/null" : target, scratch]
        let pipe = Pipe()
        process.standardOutput = pipe
        do { try process.run() } catch {
            throw BackupError("cannot run /usr/bin/diff for the preview of \(target): \(error.localizedDescription); install diffutils")
        }
        let output = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return String(decoding: output, as: UTF8.self)
    }
}

extension FileSystem {
    /// True for a regular file, not following a symbolic link (a link is replaced, not written through).
    static func isRegularFile(_ path: String) -> Bool {
        var info = stat()
        return lstat(path, &info) == 0 && (info.st_mode & S_IFMT) == S_IFREG
    }
}

extension BackupRunner {
    /// Restores the files of `backup.files` from a backup (`restore --files`); see `FileRestoreRequest`.
    public func restoreFiles(_ request: FileRestoreRequest) async throws(BackupError) -> FileRestoreOutcome {
        let restorer = FileRestorer(plan: plan, logger: logger, progress: progress)
        let result = await onOwnThread { () throws(BackupError) in try restorer.restore(request) }
        progress?.finish()
        return try result.get()
    }
}
