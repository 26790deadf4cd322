import FileSafety
import Glibc
import OpsConfig

/// The backup's files: the repository's directory trusted like the state directory, the SSH key
/// and token file readable by opsd's user and root alone (0600 or 0640) and owned by one of
/// them, and a known_hosts file for an SSH remote (opsd never accepts a host key blindly).
struct BackupFilesDoctorCheck: DoctorCheck {
    func run(in context: DoctorContext) async -> [DoctorFinding] {
        guard let backup = context.configuration.backup else {
            return [.skipped("backup-files", "\(context.load.path) configures no backup")]
        }
        var findings = [repository(backup.repository, context)]
        if let remote = backup.remote {
            findings += [remote.sshKey, remote.tokenFile].compactMap { $0 }.compactMap { secret($0, context) }
            findings += knownHosts(remote).map { [$0] } ?? []
        }
        guard findings.allSatisfy({ $0.state == .ok }) else { return findings.filter { $0.state != .ok } }
        return [.ok("backup-files", "the repository, and the remote's key files, are opsd's alone")]
    }

    private func repository(_ path: String, _ context: DoctorContext) -> DoctorFinding {
        guard FileFacts.of(path) != nil else {
            return .warn("backup-files", "the backup repository \(path) does not exist yet", fix: "run `opsctl backup`, which creates it")
        }
        do throws(UntrustedPathError) {
            try TrustedDirectory.check(path, purpose: "the backup repository", trusting: context.serviceOwner)
        } catch {
            return error.finding("backup-files")
        }
        return .ok("backup-files", path)
    }

    /// A secret file: 0600 or 0640, owned by root or opsd's user. nil when it is fine.
    private func secret(_ path: String, _ context: DoctorContext) -> DoctorFinding? {
        var info = stat()
        // stat, not lstat: libssh2 and opsd follow a link to the key, so its target is what counts.
        guard stat(path, &info) == 0 else {
            return .fail("backup-files", "\(path) cannot be read: \(String(cString: strerror(errno)))", fix: "create it, or correct its path in \(context.load.path)")
        }
        let mode = info.st_mode & 0o7777
        let octal = "0" + String(mode, radix: 8)
        if mode & ~mode_t(0o640) != 0 {
            return .fail("backup-files", "\(path) has mode \(octal), so others can read or change a secret", fix: "run chmod 0600 \(path) (0640 if opsd's group must read it)")
        }
        let owner = context.serviceOwner
        if info.st_uid != 0, info.st_uid != owner, info.st_uid != geteuid() {
            let ops = owner.map { "uid \($0)" } ?? "opsd's user"
            return .fail("backup-files", "\(path) is owned by uid \(info.st_uid), who could replace the secret", fix: "run chown to give it to root or \(ops)")
        }
        return nil
    }

    /// For an SSH remote: known_hosts named and present. nil for other remotes, or when fine.
    private func knownHosts(_ remote: RemoteSpec) -> DoctorFinding? {
        let ssh = remote.url.hasPrefix("ssh://") || (!remote.url.contains("://") && !remote.url.hasPrefix("/"))
        guard ssh else { return nil }
        guard let path = remote.knownHosts else {
            return .fail(
                "backup-files", "backup.remote.known_hosts is not set, and opsd never accepts an SSH host key blindly, so pushes to \(remote.url) fail",
                fix: "write the server's key with ssh-keyscan to a file and name it in backup.remote.known_hosts")
        }
        guard FileFacts.of(path) != nil else {
            return .fail("backup-files", "the known_hosts file \(path) does not exist, so pushes to \(remote.url) fail", fix: "create it with ssh-keyscan HOST > \(path)")
        }
        return nil
    }
}
