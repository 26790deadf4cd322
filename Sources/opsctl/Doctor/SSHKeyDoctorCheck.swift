import FoundationEssentials

/// An RSA key for the remote while the libssh2 that opsctl-backup pushes with predates 1.11: it
/// signs only with ssh-rsa (SHA-1), which OpenSSH 8.8 and later servers refuse
/// (docs/known-limits.md), so the push fails at authentication.
struct SSHKeyDoctorCheck: DoctorCheck {
    /// The first libssh2 with rsa-sha2-256/512 user authentication.
    static let fixedIn = (1, 11)

    func run(in context: DoctorContext) async -> [DoctorFinding] {
        guard let key = context.configuration.backup?.remote?.sshKey else {
            return [.skipped("ssh-key", "\(context.load.path) names no backup.remote.ssh_key")]
        }
        let type: String
        switch await Self.keyType(key) {
        case .success(let found): type = found
        case .failure(let reason): return [.skipped("ssh-key", reason.description)]
        }
        guard type == "RSA" else { return [.ok("ssh-key", "\(key) is an \(type) key, which libssh2 signs as servers expect")] }
        let version = await Self.libssh2Version()
        if let version, Self.supportsRSASHA2(version) {
            return [.ok("ssh-key", "\(key) is an RSA key, and libssh2 \(version) signs it with rsa-sha2")]
        }
        return [.warn(
            "ssh-key", "\(key) is an RSA key, and libssh2 \(version ?? "(version unknown)"), which opsctl-backup pushes with, signs it only with ssh-rsa (SHA-1), which OpenSSH 8.8 and later servers refuse",
            fix: "make an ed25519 key (ssh-keygen -t ed25519 -f NEWFILE), add NEWFILE.pub to the server's authorized_keys and name NEWFILE in backup.remote.ssh_key")]
    }

    struct Unknown: Error, CustomStringConvertible {
        let description: String
    }

    /// The key's type: from a PEM header (`BEGIN RSA PRIVATE KEY`), else as `ssh-keygen -l` names it.
    static func keyType(_ path: String) async -> Result<String, Unknown> {
        guard let data = FileManager.default.contents(atPath: path) else {
            return .failure(Unknown(description: "\(path) cannot be read by this user, so its type is unknown"))
        }
        let header = String(decoding: data.prefix(64), as: UTF8.self)
        for (marker, type) in [("BEGIN RSA PRIVATE KEY", "RSA"), ("BEGIN EC PRIVATE KEY", "ECDSA"), ("BEGIN DSA PRIVATE KEY", "DSA")] where header.contains(marker) {
            return .success(type)
        }
        guard let listing = await DoctorCommand.run(["ssh-keygen", "-l", "-f", path]) else {
            return .failure(Unknown(description: "ssh-keygen is not installed, so the type of \(path) is unknown"))
        }
        // "3072 SHA256:… comment (RSA)"
        guard listing.code == 0, let last = listing.output.split(separator: " ").last?.split(separator: "\n").first,
              last.hasPrefix("("), last.hasSuffix(")") else {
            return .failure(Unknown(description: "ssh-keygen -l cannot read \(path): \(DoctorCommand.firstLine(listing.output))"))
        }
        return .success(String(last.dropFirst().dropLast()))
    }

    /// The installed libssh2's version, as dpkg has it; nil where dpkg does not know it.
    static func libssh2Version() async -> String? {
        guard let result = await DoctorCommand.run(["dpkg-query", "-W", "-f", "${Version}", "libssh2-1"]), result.code == 0 else { return nil }
        let version = DoctorCommand.firstLine(result.output)
        return version == "no message" ? nil : version
    }

    /// "1.10.0-3+deb12u1" → false; "1.11.0-4" → true.
    static func supportsRSASHA2(_ version: String) -> Bool {
        let numbers = version.split(whereSeparator: { !$0.isNumber }).prefix(2).compactMap { Int($0) }
        guard numbers.count == 2 else { return false }
        return (numbers[0], numbers[1]) >= fixedIn
    }
}
