import ProcessControl

/// The remote, contacted only with `--remote` and only through opsctl-backup (opsctl never loads
/// libgit2): a fetch of this host's branch proves the remote reachable, its host key known and
/// the credentials accepted, or names which of them failed.
struct RemoteDoctorCheck: DoctorCheck {
    func run(in context: DoctorContext) async -> [DoctorFinding] {
        guard let remote = context.configuration.backup?.remote else {
            return [.skipped("remote", "\(context.load.path) configures no backup.remote")]
        }
        guard context.contactRemote else {
            return [.skipped("remote", "\(remote.url) was not contacted; pass --remote to fetch from it through opsctl-backup")]
        }
        guard context.load.diagnostics.isEmpty else {
            return [.skipped("remote", "\(context.load.path) has problems, so opsctl-backup cannot run on it")]
        }
        let companion = Companion.path(of: Companion.backup)
        guard let result = await DoctorCommand.run([companion, "backup", "list", "--from-remote", "--json", "--config", context.load.path]) else {
            return [.fail("remote", "\(companion) could not be run", fix: "reinstall opsd: opsctl-backup belongs beside opsctl")]
        }
        guard result.code != 0 else { return [.ok("remote", "opsctl-backup fetched this host's branch from \(remote.url)")] }
        // opsctl-backup's one line: "opsctl: <sentence>".
        let line = result.output.split(separator: "\n").last { $0.hasPrefix("opsctl: ") }.map { String($0.dropFirst("opsctl: ".count)) }
            ?? DoctorCommand.firstLine(result.output)
        if line.contains("has no branch") {
            let what = line.split(separator: "; ").first.map(String.init) ?? line
            return [.warn("remote", what, fix: "run `opsctl backup`, which pushes this host's first backup, unless backup.remote.branch is wrong")]
        }
        return [.fail("remote", line, fix: "correct backup.remote (url, ssh_key, known_hosts, token_file or token_env) or the server as the sentence says, then run `opsctl doctor --remote` again")]
    }
}
