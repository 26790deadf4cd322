import Foundation
import OpsConfig

/// The configuration files of a backup: `backup.files` (files or directories, walked recursively)
/// minus anything matching a `backup.exclude` glob, stored under `files/<absolute path>`.
///
/// Three kinds of file are never stored as they are: a file the configuration names as a secret
/// (a token, a key: it must not leave the host with the backup, even inside a directory that is
/// backed up), a symbolic link (it is not followed: it could lead anywhere, a secret included;
/// each one is reported), and the configuration file itself, which is stored with its secret
/// values masked (`ConfigSecrets.masked`).
struct ConfigFiles {
    let paths: [String]
    let exclude: [String]
    /// Files named as secrets by the configuration.
    var secrets: [ConfigSecrets.SecretFile] = []
    /// The configuration file the backup runs from, if known.
    var configPath: String?

    /// A file to store: where it is, whether it is executable, and whether it is the
    /// configuration file (stored masked).
    struct Item {
        var path: String
        var executable: Bool
        var isConfiguration = false
    }

    /// What `collect` found.
    struct Selection {
        var items: [Item] = []
        /// Configured paths that do not exist.
        var missing: [String] = []
        /// Symbolic links met, not followed.
        var links: [String] = []
        /// Files left out because the configuration names them as secrets, with that key.
        var secrets: [ConfigSecrets.SecretFile] = []
    }

    /// A file's identity, the same whichever path (link, `..`, hard link) reaches it.
    private struct Identity: Hashable {
        var device: UInt64
        var inode: UInt64
    }

    private static func identity(_ path: String) -> Identity? {
        var info = stat()
        guard stat(path, &info) == 0 else { return nil }
        return Identity(device: UInt64(info.st_dev), inode: UInt64(info.st_ino))
    }

    /// Every file to store, sorted, and what was left out and why.
    func collect() -> Selection {
        var selection = Selection()
        var secretFiles: [Identity: ConfigSecrets.SecretFile] = [:]
        for secret in secrets { if let id = Self.identity(secret.path) { secretFiles[id] = secret } }
        let configuration = configPath.flatMap(Self.identity)
        for root in paths {
            var info = stat()
            guard lstat(root, &info) == 0 else { selection.missing.append(root); continue }
            consider(root, secretFiles, configuration, into: &selection)
        }
        selection.items.sort { $0.path < $1.path }
        return selection
    }

    /// Takes a file, walks a directory (never through a link), reports a link.
    private func consider(_ path: String, _ secretFiles: [Identity: ConfigSecrets.SecretFile], _ configuration: Identity?, into selection: inout Selection) {
        var info = stat()
        guard lstat(path, &info) == 0 else { return }
        if (info.st_mode & S_IFMT) == S_IFDIR {
            for name in ((try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []).sorted() {
                consider((path as NSString).appendingPathComponent(name), secretFiles, configuration, into: &selection)
            }
            return
        }
        guard !isExcluded(path) else { return }
        switch info.st_mode & S_IFMT {
        case S_IFLNK:
            selection.links.append(path)
        case S_IFREG:
            let id = Identity(device: UInt64(info.st_dev), inode: UInt64(info.st_ino))
            if let secret = secretFiles[id] {
                selection.secrets.append(ConfigSecrets.SecretFile(path: path, key: secret.key))
                return
            }
            selection.items.append(Item(path: path, executable: info.st_mode & 0o100 != 0, isConfiguration: id == configuration))
        default:
            return
        }
    }

    /// A glob matches the whole path (`/etc/app/*.key`) or the file name alone (`*.key`). A
    /// restore's safety copies (`FILE.pre-restore-<time>`, beside the files `restore --files`
    /// replaced) are always left out: the backup would otherwise keep the old version twice.
    func isExcluded(_ path: String) -> Bool {
        BackupSpec.excludes(path, by: exclude + [SafetyCopy.pattern])
    }

    /// Writes every file as a blob and returns the `files/` subtree, nested like the file system.
    static func tree(_ items: [Item], repository: GitRepository) throws(BackupError) -> [String: TreeNode] {
        var root: [String: TreeNode] = [:]
        for item in items {
            var bytes = try FileSystem.readAll(item.path, followLinks: false)
            if item.isConfiguration { bytes = masked(bytes, path: item.path) }
            let id = try repository.writeBlob(bytes)
            let components = item.path.split(separator: "/").map(String.init)
            insert(.blob(id, executable: item.executable), at: components[...], into: &root)
        }
        return root
    }

    /// The configuration file with its secret values masked; when they cannot be masked in
    /// place, a note instead of the file (the secrets must not be stored).
    static func masked(_ bytes: [UInt8], path: String) -> [UInt8] {
        if let masked = ConfigSecrets.masked(String(decoding: bytes, as: UTF8.self)) { return Array(masked.text.utf8) }
        return Array("# opsd did not store \(path): its secret values could not be masked line by line (it is not YAML opsd reads). Keep a copy elsewhere.\n".utf8)
    }

    private static func insert(_ node: TreeNode, at path: ArraySlice<String>, into tree: inout [String: TreeNode]) {
        guard let first = path.first else { return }
        if path.count == 1 { tree[first] = node; return }
        var child: [String: TreeNode] = [:]
        if case .tree(let existing) = tree[first] { child = existing }
        insert(node, at: path.dropFirst(), into: &child)
        tree[first] = .tree(child)
    }
}
