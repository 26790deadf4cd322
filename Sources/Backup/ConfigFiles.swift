import Foundation

/// The configuration files of a backup: `backup.files` (files or directories, walked recursively)
/// minus anything matching a `backup.exclude` glob, stored under `files/<absolute path>`.
struct ConfigFiles {
    let paths: [String]
    let exclude: [String]

    /// A file to store: where it is, and whether it is executable.
    struct Item {
        var path: String
        var executable: Bool
    }

    /// Every file to store, sorted; paths that do not exist are returned in `missing`.
    func collect() -> (items: [Item], missing: [String]) {
        var items: [Item] = []
        var missing: [String] = []
        for root in paths {
            guard FileSystem.exists(root) else { missing.append(root); continue }
            if FileSystem.isDirectory(root) {
                let children = ((try? FileManager.default.subpathsOfDirectory(atPath: root)) ?? []).sorted()
                for child in children {
                    let path = (root as NSString).appendingPathComponent(child)
                    if let item = item(path) { items.append(item) }
                }
            } else if let item = item(root) {
                items.append(item)
            }
        }
        return (items.sorted { $0.path < $1.path }, missing)
    }

    private func item(_ path: String) -> Item? {
        var info = stat()
        guard lstat(path, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG, !isExcluded(path) else { return nil }
        return Item(path: path, executable: info.st_mode & 0o100 != 0)
    }

    /// A glob matches the whole path (`/etc/app/*.key`) or the file name alone (`*.key`).
    func isExcluded(_ path: String) -> Bool {
        let name = (path as NSString).lastPathComponent
        return exclude.contains { fnmatch($0, path, 0) == 0 || fnmatch($0, name, 0) == 0 }
    }

    /// Writes every file as a blob and returns the `files/` subtree, nested like the file system.
    static func tree(_ items: [Item], repository: GitRepository) throws(BackupError) -> [String: TreeNode] {
        var root: [String: TreeNode] = [:]
        for item in items {
            let id = try repository.writeBlob(try FileSystem.readAll(item.path))
            let components = item.path.split(separator: "/").map(String.init)
            insert(.blob(id, executable: item.executable), at: components[...], into: &root)
        }
        return root
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
