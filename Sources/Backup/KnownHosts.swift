import Foundation

/// The host keys of an OpenSSH `known_hosts` file, to check an SSH server's key against.
///
/// Supports plain host patterns (`host`, `[host]:port`, comma-separated lists) and hashed ones
/// (`|1|salt|hash`, from `ssh-keyscan -H`). Wildcards and `@revoked`/`@cert-authority` markers are
/// not supported; such lines never match, so a key is refused rather than accepted by mistake.
struct KnownHosts {
    /// One line: the host patterns and the key blob (decoded from base64).
    struct Entry {
        var patterns: [String]
        var key: [UInt8]
    }

    let entries: [Entry]

    init(path: String) throws(BackupError) {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            throw BackupError("cannot read the known_hosts file \(path); create it, e.g. with `ssh-keyscan -p PORT HOST > \(path)`")
        }
        entries = text.split(separator: "\n").compactMap { line in
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            guard fields.count >= 3, !line.hasPrefix("#"), !line.hasPrefix("@"),
                  let key = Data(base64Encoded: String(fields[2])) else { return nil }
            return Entry(patterns: fields[0].split(separator: ",").map(String.init), key: Array(key))
        }
    }

    /// True when a line names `host` (on `port`) with exactly this key.
    func accepts(host: String, port: Int, key: [UInt8]) -> Bool {
        let name = port == 22 ? host : "[\(host)]:\(port)"
        return entries.contains { entry in
            entry.key == key && entry.patterns.contains { Self.matches($0, name) }
        }
    }

    private static func matches(_ pattern: String, _ name: String) -> Bool {
        guard pattern.hasPrefix("|1|") else { return pattern == name }
        let parts = pattern.dropFirst(3).split(separator: "|")
        guard parts.count == 2, let salt = Data(base64Encoded: String(parts[0])), let hash = Data(base64Encoded: String(parts[1])) else { return false }
        return hmacSHA1(key: Array(salt), message: Array(name.utf8)) == Array(hash)
    }
}
