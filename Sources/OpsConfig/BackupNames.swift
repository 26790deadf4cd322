extension BackupSpec {
    /// The name a database has in the backup repository (`db/<name>/`): its file name without
    /// the extension, with characters that would need quoting in a shell or a tree path replaced
    /// by `_` (`/srv/app/tickets.db` → `tickets`). Two databases with the same name would
    /// overwrite each other in the backup, so the config refuses them.
    public static func repositoryName(ofDatabase path: String) -> String {
        var file = Substring(path.split(separator: "/", omittingEmptySubsequences: true).last ?? "")
        if let dot = file.lastIndex(of: "."), dot != file.startIndex { file = file[..<dot] }
        let name = String(file.map { $0.isASCII && ($0.isLetter || $0.isNumber || "._-".contains($0)) ? $0 : "_" })
        return name.isEmpty || name.hasPrefix(".") ? "db" + name : name
    }
}

extension RemoteSpec {
    /// Why `branch` (with `{hostname}` standing for a host name) cannot name a git branch, by
    /// the rules of `git check-ref-format --branch`; nil when it can.
    public static func branchProblem(_ branch: String) -> String? {
        let name = branch.replacing("{hostname}", with: "host")
        if name == "@" { return "is \"@\", which git reserves for HEAD" }
        if name.hasPrefix("-") { return "starts with \"-\", which git would read as an option" }
        if name.hasPrefix("/") || name.hasSuffix("/") || name.contains("//") {
            return "has an empty path component (a leading, trailing or double \"/\")"
        }
        if name.hasSuffix(".") { return "ends with \".\"" }
        if name.contains("..") { return "contains \"..\"" }
        if name.contains("@{") { return "contains \"@{\"" }
        if let bad = name.unicodeScalars.first(where: { $0.value < 0x20 || $0.value == 0x7f || " ~^:?*[\\".unicodeScalars.contains($0) }) {
            let shown = bad.value < 0x20 || bad.value == 0x7f ? "a control character" : "\"\(bad)\""
            return "contains \(shown), which git does not allow in a branch name"
        }
        for component in name.split(separator: "/") {
            if component.hasPrefix(".") { return "has a component starting with \".\" (\(component))" }
            if component.hasSuffix(".lock") { return "has a component ending with \".lock\" (\(component))" }
        }
        return nil
    }
}
