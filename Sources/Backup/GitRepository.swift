import CGit2
import Foundation

/// libgit2 is initialised once per process; `git_libgit2_init` is reference counted and never undone.
let libgit2Ready: Bool = {
    git_libgit2_init()
    _ = opsd_git_enable_fsync()
    _ = opsd_git_skip_read_verification()
    _ = opsd_git_limit_mapped_windows()
    _ = opsd_git_disable_owner_validation()
    // As git does: GIT_SSL_CAINFO, else SSL_CERT_FILE, names the CA bundle for https remotes.
    let environment = ProcessInfo.processInfo.environment
    if let bundle = environment["GIT_SSL_CAINFO"] ?? environment["SSL_CERT_FILE"], !bundle.isEmpty {
        _ = opsd_git_set_ca_file(bundle)
    }
    return true
}()

/// A libgit2 failure turned into a sentence: what was being done, then libgit2's own message.
/// libgit2 keeps the message per thread, so this must run right after the failing call.
func gitCheck(_ code: Int32, _ action: @autoclosure () -> String) throws(BackupError) {
    guard code < 0 else { return }
    let detail = git_error_last().flatMap { $0.pointee.message.map { String(cString: $0) } } ?? "libgit2 error \(code)"
    throw BackupError("\(action()): \(detail)")
}

/// A git object id (SHA-1), as libgit2 holds it.
struct ObjectID: Equatable, Hashable, CustomStringConvertible, Sendable {
    var raw: git_oid

    init(_ raw: git_oid) { self.raw = raw }

    init?(hex: String) {
        var oid = git_oid()
        guard hex.count == 40, git_oid_fromstr(&oid, hex) == 0 else { return nil }
        raw = oid
    }

    var description: String {
        var copy = raw
        var buffer = [CChar](repeating: 0, count: 41)
        git_oid_tostr(&buffer, 41, &copy)
        return String(decoding: buffer.prefix(40).map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    static func == (a: ObjectID, b: ObjectID) -> Bool {
        var x = a.raw, y = b.raw
        return git_oid_equal(&x, &y) != 0
    }

    func hash(into hasher: inout Hasher) { hasher.combine(description) }
}

/// One entry of a tree being built: a blob with its mode, or a subtree.
indirect enum TreeNode {
    case blob(ObjectID, executable: Bool)
    case tree([String: TreeNode])
    /// A subtree that already exists in the object database (reused from the previous commit).
    case existingTree(ObjectID)
}

/// A commit as the backup code needs it.
struct CommitInfo {
    var id: ObjectID
    var tree: ObjectID
    var time: Date
    var message: String
    var parent: ObjectID?
}

/// One libgit2 repository handle. Not thread-safe (libgit2 objects are not): one owner at a time.
final class GitRepository {
    let pointer: OpaquePointer
    let path: String
    /// When set (by `PackWriter`), the ids of written objects are kept until `takeWrittenObjects`.
    var recordsWrites = false
    private var writtenObjects: [ObjectID] = []

    /// The ids written since the last call, in order.
    func takeWrittenObjects() -> [ObjectID] {
        defer { writtenObjects.removeAll() }
        return writtenObjects
    }

    private func written(_ id: ObjectID) -> ObjectID {
        if recordsWrites { writtenObjects.append(id) }
        return id
    }

    /// The `objects` directory (the repository is bare).
    var objectsDirectory: String {
        git_repository_path(pointer).map { String(cString: $0) + "objects" } ?? path + "/objects"
    }

    private init(pointer: OpaquePointer, path: String) {
        self.pointer = pointer
        self.path = path
    }

    deinit { git_repository_free(pointer) }

    /// Opens the bare repository at `path`, creating it (and its parent directories) when missing.
    static func openOrCreate(at path: String) throws(BackupError) -> GitRepository {
        _ = libgit2Ready
        var repo: OpaquePointer?
        if FileSystem.exists(path + "/HEAD") || FileSystem.exists(path + "/.git") {
            try gitCheck(git_repository_open_ext(&repo, path, UInt32(GIT_REPOSITORY_OPEN_NO_SEARCH.rawValue), nil), "cannot open the backup repository \(path)")
        } else {
            try FileSystem.makeDirectory(path)
            try gitCheck(git_repository_init(&repo, path, 1), "cannot create the backup repository \(path)")
        }
        guard let repo else { throw BackupError("cannot open the backup repository \(path)") }
        let repository = GitRepository(pointer: repo, path: path)
        try repository.limitDeltaSearch()
        return repository
    }

    /// Opens the repository at `path` as it is (nothing created, its configuration untouched): a
    /// remote on this machine that `LocalPush` writes into.
    static func openExisting(at path: String) throws(BackupError) -> GitRepository {
        _ = libgit2Ready
        var repo: OpaquePointer?
        try gitCheck(git_repository_open_ext(&repo, path, UInt32(GIT_REPOSITORY_OPEN_NO_SEARCH.rawValue), nil), "cannot open the repository \(path)")
        guard let repo else { throw BackupError("cannot open the repository \(path)") }
        return GitRepository(pointer: repo, path: path)
    }

    /// Keeps libgit2's packbuilder from delta-searching big blobs. Chunks and delta parts are up to
    /// 16 MiB and already as small as they get; searching them for deltas against each other cost
    /// 60 % of a full backup's time (measured: 12.3 s → 4.6 s for 82 MiB). libgit2 1.5 (and later)
    /// reads its "big file threshold" from `pack.deltaCacheSize` (a typo in packbuilder_config), so
    /// that is the key to set; small objects (trees, manifests, config files) are still delta-compressed.
    private func limitDeltaSearch() throws(BackupError) {
        var config: OpaquePointer?
        try gitCheck(git_repository_config(&config, pointer), "cannot read the configuration of \(path)")
        defer { git_config_free(config) }
        var current: Int64 = 0
        if git_config_get_int64(&current, config, "pack.deltaCacheSize") == 0 { return }
        try gitCheck(git_config_set_int64(config, "pack.deltaCacheSize", 1 << 20), "cannot configure \(path)")
    }

    // MARK: references

    /// Points HEAD at `reference` when HEAD names a branch that does not exist (a new repository's
    /// `master`), so `git log` and `git clone` show the backups without arguments.
    func adoptHead(_ reference: String) throws(BackupError) {
        guard git_repository_head_unborn(pointer) == 1 else { return }
        try gitCheck(git_repository_set_head(pointer, reference), "cannot point HEAD at \(reference)")
    }

    /// The commit a reference points to, or nil when the reference does not exist.
    func resolve(reference name: String) throws(BackupError) -> ObjectID? {
        var oid = git_oid()
        let rc = git_reference_name_to_id(&oid, pointer, name)
        if rc == GIT_ENOTFOUND.rawValue { return nil }
        try gitCheck(rc, "cannot read \(name) in \(path)")
        return ObjectID(oid)
    }

    /// Points `name` at `target`, only if it still points at `expected` (nil: must not exist),
    /// so two writers can never silently overwrite each other's commit.
    func updateReference(_ name: String, to target: ObjectID, expected: ObjectID?, message: String) throws(BackupError) {
        var oid = target.raw
        var ref: OpaquePointer?
        if var old = expected?.raw {
            try gitCheck(git_reference_create_matching(&ref, pointer, name, &oid, 1, &old, message), "cannot move \(name) to \(target)")
        } else {
            try gitCheck(git_reference_create(&ref, pointer, name, &oid, 0, message), "cannot create \(name)")
        }
        git_reference_free(ref)
    }

    /// Sets `name` to `target` unconditionally (remote-tracking references).
    func setReference(_ name: String, to target: ObjectID) throws(BackupError) {
        var oid = target.raw
        var ref: OpaquePointer?
        try gitCheck(git_reference_create(&ref, pointer, name, &oid, 1, "opsd: remote-tracking"), "cannot set \(name)")
        git_reference_free(ref)
    }

    // MARK: objects

    /// Writes a blob (into whatever backend has priority: the backup's in-memory pack).
    func writeBlob(_ bytes: UnsafeRawBufferPointer) throws(BackupError) -> ObjectID {
        var oid = git_oid()
        try gitCheck(git_blob_create_from_buffer(&oid, pointer, bytes.baseAddress, bytes.count), "cannot write a blob to \(path)")
        return written(ObjectID(oid))
    }

    func writeBlob(_ bytes: [UInt8]) throws(BackupError) -> ObjectID {
        try bytes.withBytes { (raw) throws(BackupError) in try writeBlob(raw) }
    }

    /// Reads a blob's bytes. libgit2 verifies the object's hash on read, so a corrupted object
    /// fails here instead of producing wrong bytes.
    func readBlob(_ id: ObjectID) throws(BackupError) -> [UInt8] {
        var oid = id.raw
        var blob: OpaquePointer?
        try gitCheck(git_blob_lookup(&blob, pointer, &oid), "cannot read object \(id) from \(path); the repository is damaged")
        defer { git_blob_free(blob) }
        let size = Int(git_blob_rawsize(blob))
        guard size > 0, let content = git_blob_rawcontent(blob) else { return [] }
        return Array(UnsafeRawBufferPointer(start: content, count: size))
    }

    /// An object's size, from its header alone (nothing is inflated).
    func objectSize(_ id: ObjectID) throws(BackupError) -> Int {
        var odb: OpaquePointer?
        try gitCheck(git_repository_odb(&odb, pointer), "cannot open the object database of \(path)")
        defer { git_odb_free(odb) }
        var oid = id.raw
        var size = 0
        var type = GIT_OBJECT_ANY
        try gitCheck(git_odb_read_header(&size, &type, odb, &oid), "cannot read object \(id) from \(path); the repository is damaged")
        return size
    }

    /// Writes a tree (recursively) and returns its id.
    func writeTree(_ entries: [String: TreeNode]) throws(BackupError) -> ObjectID {
        var builder: OpaquePointer?
        try gitCheck(git_treebuilder_new(&builder, pointer, nil), "cannot build a tree")
        defer { git_treebuilder_free(builder) }
        for (name, node) in entries {
            var oid: git_oid
            let mode: git_filemode_t
            switch node {
            case .blob(let id, let executable):
                oid = id.raw
                mode = executable ? GIT_FILEMODE_BLOB_EXECUTABLE : GIT_FILEMODE_BLOB
            case .tree(let children):
                oid = try writeTree(children).raw
                mode = GIT_FILEMODE_TREE
            case .existingTree(let id):
                oid = id.raw
                mode = GIT_FILEMODE_TREE
            }
            try gitCheck(git_treebuilder_insert(nil, builder, name, &oid, mode), "cannot add \(name) to a tree")
        }
        var result = git_oid()
        try gitCheck(git_treebuilder_write(&result, builder), "cannot write a tree")
        return written(ObjectID(result))
    }

    /// Writes a commit object without moving any reference; the caller moves the branch last.
    func writeCommit(tree: ObjectID, parent: ObjectID?, message: String, authorName: String, authorEmail: String) throws(BackupError) -> ObjectID {
        var signature: UnsafeMutablePointer<git_signature>?
        try gitCheck(git_signature_now(&signature, authorName, authorEmail), "cannot make the commit signature")
        defer { git_signature_free(signature) }
        var treeOid = tree.raw
        var treeObject: OpaquePointer?
        try gitCheck(git_tree_lookup(&treeObject, pointer, &treeOid), "cannot find the new tree")
        defer { git_tree_free(treeObject) }
        var parentObject: OpaquePointer?
        if var parentOid = parent?.raw {
            try gitCheck(git_commit_lookup(&parentObject, pointer, &parentOid), "cannot find the previous backup commit")
        }
        defer { git_commit_free(parentObject) }
        var result = git_oid()
        var parents: [OpaquePointer?] = parentObject.map { [$0] } ?? []
        try gitCheck(
            git_commit_create(&result, pointer, nil, signature, signature, "UTF-8", message, treeObject, parents.count, &parents),
            "cannot write the backup commit"
        )
        return written(ObjectID(result))
    }

    /// A commit's tree, time, message and first parent.
    func commit(_ id: ObjectID) throws(BackupError) -> CommitInfo {
        var oid = id.raw
        var commit: OpaquePointer?
        try gitCheck(git_commit_lookup(&commit, pointer, &oid), "cannot read commit \(id) from \(path)")
        defer { git_commit_free(commit) }
        let tree = ObjectID(git_commit_tree_id(commit).pointee)
        let time = Date(timeIntervalSince1970: TimeInterval(git_commit_time(commit)))
        let message = git_commit_message(commit).map { String(cString: $0) } ?? ""
        let parent = git_commit_parentcount(commit) > 0 ? git_commit_parent_id(commit, 0).map { ObjectID($0.pointee) } : nil
        return CommitInfo(id: id, tree: tree, time: time, message: message, parent: parent)
    }

    /// Resolves a revision (full or abbreviated commit id, or any git revision) to a commit id.
    func resolveCommit(_ revision: String) throws(BackupError) -> ObjectID {
        var object: OpaquePointer?
        let rc = git_revparse_single(&object, pointer, revision + "^{commit}")
        guard rc == 0, let object else { throw BackupError("\(revision) is not a backup commit in \(path); see `opsctl backup list`") }
        defer { git_object_free(object) }
        return ObjectID(git_object_id(object).pointee)
    }

    /// The id of the entry at `path` ("db/app/manifest.json") inside `tree`, or nil when absent.
    func entry(_ path: String, in tree: ObjectID) throws(BackupError) -> ObjectID? {
        var treeOid = tree.raw
        var treeObject: OpaquePointer?
        try gitCheck(git_tree_lookup(&treeObject, pointer, &treeOid), "cannot read tree \(tree) from \(self.path); the repository is damaged")
        defer { git_tree_free(treeObject) }
        var entry: OpaquePointer?
        let rc = git_tree_entry_bypath(&entry, treeObject, path)
        if rc == GIT_ENOTFOUND.rawValue { return nil }
        try gitCheck(rc, "cannot read \(path) from tree \(tree)")
        defer { git_tree_entry_free(entry) }
        return ObjectID(git_tree_entry_id(entry).pointee)
    }

    /// A tree's entries with their ids and modes, in git's order: the one reader of a tree's
    /// listing, which `entryNames(of:)` and `entries(of:)` narrow.
    func treeEntries(_ tree: ObjectID) throws(BackupError) -> [TreeEntry] {
        var oid = tree.raw
        var treeObject: OpaquePointer?
        try gitCheck(git_tree_lookup(&treeObject, pointer, &oid), "cannot read tree \(tree) from \(path); the repository is damaged")
        defer { git_tree_free(treeObject) }
        return (0..<git_tree_entrycount(treeObject)).compactMap { index in
            guard let entry = git_tree_entry_byindex(treeObject, index), let name = git_tree_entry_name(entry) else { return nil }
            return TreeEntry(name: String(cString: name), id: ObjectID(git_tree_entry_id(entry).pointee), mode: git_tree_entry_filemode(entry))
        }
    }

    /// The names of a tree's entries, in git's order.
    func entryNames(of tree: ObjectID) throws(BackupError) -> [String] {
        try treeEntries(tree).map(\.name)
    }

    /// A tree's entries: name, id, and whether it is a subtree.
    func entries(of tree: ObjectID) throws(BackupError) -> [(name: String, id: ObjectID, isTree: Bool)] {
        try treeEntries(tree).map { ($0.name, $0.id, $0.isTree) }
    }

    /// How many commits `local` has that `upstream` does not (nil upstream: all of them).
    func commitsAhead(_ local: ObjectID, of upstream: ObjectID?) throws(BackupError) -> Int {
        guard var upstreamOid = upstream?.raw else {
            var count = 0
            var next: ObjectID? = local
            while let id = next { count += 1; next = try commit(id).parent }
            return count
        }
        var localOid = local.raw
        var ahead = 0, behind = 0
        try gitCheck(git_graph_ahead_behind(&ahead, &behind, pointer, &localOid, &upstreamOid), "cannot compare \(local) with the remote")
        return ahead
    }
}

/// One entry of a stored tree.
struct TreeEntry {
    var name: String
    var id: ObjectID
    var mode: git_filemode_t
    var isTree: Bool { mode == GIT_FILEMODE_TREE }
    var isExecutable: Bool { mode == GIT_FILEMODE_BLOB_EXECUTABLE }
}
