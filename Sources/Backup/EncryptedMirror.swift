import CGit2
import Foundation

/// The encrypted copy of the backup branch that is pushed instead of it (`backup.encrypt`).
///
/// The local repository stays plaintext: the host reads its own backups to build the next delta.
/// Before a push, each local commit the remote lacks gets a **mirror commit** on
/// `refs/encrypted/<branch>`: the same paths, each blob replaced by its age encryption (`.age`
/// appended to the name), plus `commit.age`, the plaintext commit object encrypted (its message
/// and times). The mirror commit's own message is `backup` and its author `opsd <opsd>`: no
/// names, no numbers. A blob or tree whose plaintext id the previous mirror already encrypted is
/// reused as it is, so what a push adds stays proportional to what changed.
///
/// Which mirror commit encrypts which plaintext commit is kept beside the repository in
/// `opsd-encrypted.json` (with the recipients they were encrypted to: a changed recipient list
/// re-encrypts everything once, so a removed recipient cannot read new backups). The pair is
/// written before the reference moves, so a crash never pairs a mirror with the wrong commit.
struct EncryptedMirror {
    let repository: GitRepository
    let plan: BackupPlan

    /// The local reference of the mirror branch.
    static func reference(_ branch: String) -> String { "refs/encrypted/" + branch }

    /// The name of the encrypted plaintext commit object in a mirror commit's tree.
    static let commitEntry = "commit.age"

    // MARK: building (push)

    /// Brings the mirror branch up to the local branch and returns its tip (nil: nothing to
    /// push). Without `force`, a local branch that no longer contains the last mirrored commit
    /// (a prune rewrote it) is refused, as git refuses a push that is not a fast-forward; with
    /// `force` (a prune's push), a new mirror history is built from the first kept backup.
    func update(recipients: [AgeRecipient], force: Bool) throws(BackupError) -> ObjectID? {
        guard let local = try repository.resolve(reference: plan.reference) else { return nil }
        var state = MirrorState.load(repository: plan.repository)
        let reference = Self.reference(plan.branch)
        let mirrorTip = try repository.resolve(reference: reference)
        let source = mirrorTip.flatMap { state.pairs[$0.description] }.flatMap(ObjectID.init(hex:))
        let fingerprint = recipients.map(\.text).sorted().joined(separator: " ")
        if let mirrorTip, source == local, state.recipients == fingerprint { return mirrorTip }

        // The plaintext commits to encrypt, oldest first.
        var commits: [ObjectID] = []
        var next: ObjectID? = local
        while let id = next, id != source {
            commits.append(id)
            next = try repository.commit(id).parent
        }
        var parent = mirrorTip
        if source != nil, next == nil {
            guard force else {
                throw BackupError("the local branch \(plan.branch) no longer contains the backups the encrypted remote has (a prune rewrote it); `opsctl backup prune` pushes the rewritten branch")
            }
            parent = nil
        }
        commits.reverse()

        let packer = try PackWriter(repository: repository)
        var encrypted: [ObjectID: ObjectID] = [:]
        if let mirrorTip, let source, state.recipients == fingerprint {
            try seed(&encrypted, mirror: try repository.commit(mirrorTip).tree, plain: try repository.commit(source).tree)
        }
        state.recipients = fingerprint
        var plainCommits: [CommitInfo] = []
        for id in commits { plainCommits.append(try repository.commit(id)) }

        // The blobs no mirror commit has yet, encrypted on every core straight into a pack, stored
        // as they are (ciphertext does not compress). Their trees follow once that pack is on disk:
        // libgit2 refuses a tree whose entries it cannot find.
        let blobs = try unconverted(plainCommits, cache: encrypted, sealed: false)
        let recipients = recipients
        let sealed = try ParallelBlobs(path: plan.repository).convert(blobs.map(\.id), into: packer) { _, plain throws(BackupError) in
            try PackEntry.stored(blob: try Age.encrypt(plain, to: recipients))
        }
        for (blob, counterpart) in zip(blobs, sealed) { encrypted[blob.id] = counterpart }
        try packer.flush()

        var pairs: [(ObjectID, ObjectID)] = []
        for commit in plainCommits {
            var root = try counterpart(of: commit.tree, cache: &encrypted, sealed: false, root: true)
            let raw = try rawObject(commit.id)
            root[Self.commitEntry] = .blob(try repository.writeBlob(try Age.encrypt(raw, to: recipients)), executable: false)
            let tree = try repository.writeTree(root)
            let mirror = try repository.writeCommit(tree: tree, parent: parent, message: "backup\n", authorName: "opsd", authorEmail: "opsd")
            pairs.append((mirror, commit.id))
            parent = mirror
        }
        try packer.flush()
        for (mirror, plain) in pairs { state.pairs[mirror.description] = plain.description }
        try state.save(repository: plan.repository)
        guard let tip = parent else { return nil }
        try repository.setReference(reference, to: tip)
        return tip
    }

    /// Records, for every blob and tree of `plain`, its encryption in `mirror` (same paths, `.age`).
    private func seed(_ cache: inout [ObjectID: ObjectID], mirror: ObjectID, plain: ObjectID) throws(BackupError) {
        cache[plain] = mirror
        let encryptedEntries = Dictionary(try repository.treeEntries(mirror).map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        for entry in try repository.treeEntries(plain) {
            if entry.isTree {
                if let counterpart = encryptedEntries[entry.name], counterpart.isTree { try seed(&cache, mirror: counterpart.id, plain: entry.id) }
            } else if let counterpart = encryptedEntries[entry.name + ".age"] {
                cache[entry.id] = counterpart.id
            }
        }
    }

    /// A blob to encrypt or decrypt, with where it was first met (for errors).
    private struct Unconverted: Sendable {
        var id: ObjectID
        var path: String
        var commit: ObjectID
    }

    /// The blobs of `commits` that `cache` has no counterpart for, each once, in tree order; a
    /// tree `cache` has is skipped whole. `sealed`: these are mirror commits, whose blobs must be
    /// `.age` files and whose root's `commit.age` is left out (it is decrypted on its own).
    private func unconverted(_ commits: [CommitInfo], cache: [ObjectID: ObjectID], sealed: Bool) throws(BackupError) -> [Unconverted] {
        var list: [Unconverted] = []
        var seen = Set<ObjectID>()
        func walk(_ tree: ObjectID, path: String, commit: ObjectID) throws(BackupError) {
            for entry in try repository.treeEntries(tree) {
                if sealed, path.isEmpty, entry.name == Self.commitEntry { continue }
                if entry.isTree {
                    if cache[entry.id] == nil, seen.insert(entry.id).inserted { try walk(entry.id, path: path + entry.name + "/", commit: commit) }
                    continue
                }
                if sealed, !entry.name.hasSuffix(".age") {
                    throw BackupError("\(path)\(entry.name) in the encrypted backup \(commit.description.prefix(12)) is not an .age file; the remote's branch is not an opsd mirror")
                }
                if cache[entry.id] == nil, seen.insert(entry.id).inserted {
                    list.append(Unconverted(id: entry.id, path: path + entry.name, commit: commit))
                }
            }
        }
        for commit in commits { try walk(commit.tree, path: "", commit: commit.id) }
        return list
    }

    /// The counterpart of a tree as tree entries: each blob replaced by its counterpart in `cache`
    /// (`.age` appended to its name, or removed when `sealed`), each subtree written (once: it is
    /// remembered in `cache`). Every blob must be in `cache` already.
    private func counterpart(of tree: ObjectID, cache: inout [ObjectID: ObjectID], sealed: Bool, root: Bool) throws(BackupError) -> [String: TreeNode] {
        var nodes: [String: TreeNode] = [:]
        for entry in try repository.treeEntries(tree) {
            if sealed, root, entry.name == Self.commitEntry { continue }
            if entry.isTree {
                if let done = cache[entry.id] {
                    nodes[entry.name] = .existingTree(done)
                } else {
                    let subtree = try repository.writeTree(try counterpart(of: entry.id, cache: &cache, sealed: sealed, root: false))
                    cache[entry.id] = subtree
                    nodes[entry.name] = .existingTree(subtree)
                }
                continue
            }
            guard let blob = cache[entry.id] else {
                throw BackupError("\(entry.name) (\(entry.id)) of \(repository.path) was not \(sealed ? "decrypted" : "encrypted") with its tree")
            }
            nodes[sealed ? String(entry.name.dropLast(4)) : entry.name + ".age"] = .blob(blob, executable: entry.isExecutable)
        }
        return nodes
    }

    private func rawObject(_ id: ObjectID) throws(BackupError) -> [UInt8] {
        var odb: OpaquePointer?
        try gitCheck(git_repository_odb(&odb, repository.pointer), "cannot open the object database of \(repository.path)")
        defer { git_odb_free(odb) }
        var oid = id.raw
        var object: OpaquePointer?
        try gitCheck(git_odb_read(&object, odb, &oid), "cannot read \(id) from \(repository.path)")
        defer { git_odb_object_free(object) }
        let size = git_odb_object_size(object)
        guard size > 0, let data = git_odb_object_data(object) else { return [] }
        return Array(UnsafeRawBufferPointer(start: data, count: size))
    }

    // MARK: reading (restore)

    /// True when `commit` is a mirror commit (its tree holds `commit.age`).
    static func isEncrypted(_ commit: ObjectID, in repository: GitRepository) throws(BackupError) -> Bool {
        try repository.entry(commitEntry, in: try repository.commit(commit).tree) != nil
    }

    /// The plaintext commit a mirror commit encrypts, when this repository built or decrypted it.
    static func knownSource(of mirror: ObjectID, repository: GitRepository, plan: BackupPlan) -> ObjectID? {
        guard let hex = MirrorState.load(repository: plan.repository).pairs[mirror.description], let id = ObjectID(hex: hex) else { return nil }
        var oid = id.raw
        var odb: OpaquePointer?
        guard git_repository_odb(&odb, repository.pointer) == 0 else { return nil }
        defer { git_odb_free(odb) }
        return git_odb_exists(odb, &oid) != 0 ? id : nil
    }

    /// Decrypts the mirror history ending at `tip` into plaintext commits in this repository
    /// (each mirror commit once: those decrypted or built before are skipped) and returns the
    /// plaintext commit of `tip`. The plaintext commits are the originals, byte for byte, so on
    /// the host that made them they get their original ids.
    func decrypt(_ tip: ObjectID, identities: [AgeIdentity]) throws(BackupError) -> ObjectID {
        var state = MirrorState.load(repository: plan.repository)
        var pending: [CommitInfo] = []
        var next: ObjectID? = tip
        var base: ObjectID?
        while let id = next {
            if let known = Self.knownSource(of: id, repository: repository, plan: plan) { base = known; break }
            let commit = try repository.commit(id)
            pending.append(commit)
            next = commit.parent
        }
        guard !pending.isEmpty else { return base ?? tip }
        let packer = try PackWriter(repository: repository)
        var plain: [ObjectID: ObjectID] = [:]
        let commits = Array(pending.reversed())
        var sealedCommits: [ObjectID] = []
        for commit in commits {
            guard let sealedCommit = try repository.entry(Self.commitEntry, in: commit.tree) else {
                throw BackupError("the encrypted backup \(commit.id.description.prefix(12)) has no \(Self.commitEntry); it is not an opsd mirror commit")
            }
            sealedCommits.append(sealedCommit)
        }
        // Every sealed blob once, decrypted on every core straight into a pack. Database chunks
        // are stored undeflated: the restore reads them back at once, and even ISA-L's fast level
        // doubled its CPU time (0.9 to 2.0 s of user time for the bench's 164 MiB database) to
        // save 37 MB in the new machine's repository; small files at git's default.
        let blobs = try unconverted(commits, cache: plain, sealed: true)
        let origins = blobs.map { ($0.path, $0.commit) }
        let opened = try ParallelBlobs(path: plan.repository).convert(blobs.map(\.id), into: packer) { index, sealed throws(BackupError) in
            let bytes: [UInt8]
            do throws(BackupError) { bytes = try Age.decrypt(sealed, with: identities) } catch {
                throw BackupError("cannot decrypt \(origins[index].0) of the encrypted backup \(origins[index].1.description.prefix(12)): \(error.description)")
            }
            if bytes.count >= Age.chunkSize { return try PackEntry.stored(blob: bytes) }
            let id = bytes.withUnsafeBytes { PackEntry.objectID(type: GIT_OBJECT_BLOB, $0) }
            return try bytes.withBytes { (raw) throws(BackupError) in try PackEntry.encode(id: id, type: GIT_OBJECT_BLOB, raw, effort: .normal) }
        }
        for (blob, counterpart) in zip(blobs, opened) { plain[blob.id] = counterpart }
        try packer.flush()
        var trees: [(mirror: ObjectID, tree: ObjectID, raw: [UInt8])] = []
        for (commit, sealedCommit) in zip(commits, sealedCommits) {
            let raw = try open(sealedCommit, identities: identities, path: Self.commitEntry, commit: commit.id)
            let tree = try repository.writeTree(try counterpart(of: commit.tree, cache: &plain, sealed: true, root: true))
            trees.append((commit.id, tree, raw))
        }
        try packer.flush()
        // Commits go in as raw objects (their original bytes, with tree and parent set), written
        // after the flush so their trees are on disk, through a handle without the in-memory
        // store (which takes every write and is gone with this handle). They are small and few.
        let writer = try GitRepository.openOrCreate(at: plan.repository)
        var odb: OpaquePointer?
        try gitCheck(git_repository_odb(&odb, writer.pointer), "cannot open the object database of \(repository.path)")
        defer { git_odb_free(odb) }
        git_odb_refresh(odb)
        var parent = base
        for item in trees {
            let bytes = Self.rewrite(commit: item.raw, tree: item.tree, parent: parent)
            var oid = git_oid()
            try gitCheck(git_odb_write(&oid, odb, bytes, bytes.count, GIT_OBJECT_COMMIT), "cannot write a decrypted commit to \(repository.path)")
            parent = ObjectID(oid)
            state.pairs[item.mirror.description] = ObjectID(oid).description
        }
        try state.save(repository: plan.repository)
        guard let parent else { throw BackupError("no backup was decrypted") }
        return parent
    }

    private func open(_ blob: ObjectID, identities: [AgeIdentity], path: String, commit: ObjectID) throws(BackupError) -> [UInt8] {
        do { return try Age.decrypt(try repository.readBlob(blob), with: identities) } catch {
            throw BackupError("cannot decrypt \(path) of the encrypted backup \(commit.description.prefix(12)): \(error.description)")
        }
    }

    /// A commit object's bytes with its `tree` and `parent` lines replaced.
    static func rewrite(commit raw: [UInt8], tree: ObjectID, parent: ObjectID?) -> [UInt8] {
        let text = String(decoding: raw, as: UTF8.self)
        let split = text.range(of: "\n\n")
        let header = split.map { String(text[..<$0.lowerBound]) } ?? text
        let body = split.map { String(text[$0.lowerBound...]) } ?? ""
        var lines = header.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        lines.removeAll { $0.hasPrefix("tree ") || $0.hasPrefix("parent ") }
        var head = ["tree \(tree)"]
        if let parent { head.append("parent \(parent)") }
        return Array((head + lines).joined(separator: "\n").utf8) + Array(body.utf8)
    }
}

/// `opsd-encrypted.json` in the repository: which mirror commit encrypts which plaintext commit,
/// and the recipients the mirror was encrypted to.
struct MirrorState: Codable {
    static let fileName = "opsd-encrypted.json"
    var recipients: String = ""
    /// Mirror commit id → plaintext commit id.
    var pairs: [String: String] = [:]

    static func load(repository: String) -> MirrorState {
        guard let data = FileManager.default.contents(atPath: repository + "/" + fileName),
              let state = try? JSONDecoder().decode(MirrorState.self, from: data) else { return MirrorState() }
        return state
    }

    /// Written to a temporary file and renamed over: a reader finds the old state or the new.
    func save(repository: String) throws(BackupError) {
        let path = repository + "/" + Self.fileName
        let data: Data
        do { data = try JSONEncoder().encode(self) } catch { throw BackupError("cannot encode \(path): \(error)") }
        do { try data.write(to: URL(fileURLWithPath: path), options: .atomic) } catch {
            throw BackupError("cannot write \(path): \(error.localizedDescription)")
        }
    }
}

extension BackupRunner {
    /// This runner reading an encrypted remote with the age identities in `identityFile`
    /// (`--identity`); the runner itself when nil.
    public func reading(identityFile: String?) -> BackupRunner {
        guard let identityFile else { return self }
        var runner = self
        runner.plan.identityFile = identityFile
        return runner
    }
}
