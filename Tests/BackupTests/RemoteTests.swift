import Backup
import Foundation
import Testing
import TestSupport

@Suite("Backup: pushing to a remote and restoring from it", .serialized)
struct RemoteTests {
    @Test("remote down: the commit stays local and is recorded as unpushed; the next run pushes both")
    func remoteDownThenUp() async throws {
        let fixture = try Fixture()
        try fixture.writeConfig(remote: "    url: \(fixture.remote)\n")
        let runner = try fixture.runner()

        let first = try await runner.run()
        #expect(first.commit != nil)
        #expect(first.push.state == .failed)
        #expect(first.push.unpushedCommits == 1)
        #expect(first.push.error?.contains("does not exist") == true)
        let warn = try runner.freshness(maxAge: .seconds(3600))
        #expect(warn.level == .critical, "never pushed: \(warn.message)")

        try fixture.churn(0.01)
        let second = try await runner.run()
        #expect(second.push.state == .failed)
        #expect(second.push.unpushedCommits == 2)

        let initialised = try await run("/usr/bin/git", ["init", "--quiet", "--bare", fixture.remote])
        #expect(initialised.status == 0)
        let third = try await runner.run()
        #expect(third.commit == nil, "nothing changed, so no new commit")
        #expect(third.push.state == .pushed)
        #expect(third.push.pushedCommits == 2)
        #expect(try runner.freshness(maxAge: .seconds(3600)).level == .ok)

        let remoteLog = try await fixture.git(["log", "--format=%H", BackupPlan.hostName()], in: fixture.remote)
        let localLog = try await fixture.git(["log", "--format=%H", BackupPlan.hostName()])
        #expect(remoteLog.stdout == localLog.stdout)
        #expect(remoteLog.stdout.split(separator: "\n").count == 2)
        let fsck = try await fixture.git(["fsck", "--strict"], in: fixture.remote)
        #expect(fsck.status == 0, "git fsck on the remote: \(fsck.stderr)")

        let list = try await runner.list()
        #expect(list.count == 2 && list.allSatisfy(\.pushed))

        // Plain git stays a way out: the remote clones, and the clone holds both backups.
        let clone = fixture.directory + "/clone.git"
        #expect(try await run("/usr/bin/git", ["clone", "--quiet", "--bare", fixture.remote, clone]).status == 0)
        #expect(try await fixture.git(["fsck", "--strict"], in: clone).status == 0)
        #expect(try await fixture.git(["log", "--format=%H", BackupPlan.hostName()], in: clone).stdout == localLog.stdout)
    }

    @Test("a remote branch that moved elsewhere is reported as refused, not as pushed; the commit stays local")
    func rejectedReference() async throws {
        let fixture = try Fixture()
        _ = try await run("/usr/bin/git", ["init", "--quiet", "--bare", fixture.remote])
        try fixture.writeConfig(remote: "    url: \(fixture.remote)\n")
        let runner = try fixture.runner()
        #expect(try await runner.run().push.state == .pushed)
        // Another machine pushes to the same branch: the remote's branch is no longer ours to fast-forward.
        let branch = BackupPlan.hostName()
        let diverge = try await run("/bin/sh", ["-c", """
            export GIT_DIR='\(fixture.remote)' GIT_AUTHOR_NAME=x GIT_AUTHOR_EMAIL=x@x GIT_COMMITTER_NAME=x GIT_COMMITTER_EMAIL=x@x
            commit=$(git commit-tree "$(git mktree </dev/null)" -m elsewhere)
            git update-ref refs/heads/\(branch) "$commit"
            """])
        #expect(diverge.status == 0, "\(diverge.stderr)")
        try fixture.churn(0.01)
        let outcome = try await runner.run()
        #expect(outcome.commit != nil)
        #expect(outcome.push.state == .failed)
        #expect(outcome.push.unpushedCommits == 1)
        #expect(outcome.push.error?.contains("refused \(branch)") == true, "\(outcome.push.error ?? "")")
        #expect(outcome.push.error?.contains("another machine may push to the same branch") == true)
        let list = try await runner.list()
        #expect(list.map(\.pushed) == [false, true])
    }

    @Test("a new machine with only the config restores from the remote with --from-remote")
    func restoreFromRemoteOnANewMachine() async throws {
        let fixture = try Fixture()
        _ = try await run("/usr/bin/git", ["init", "--quiet", "--bare", fixture.remote])
        try fixture.writeConfig(remote: "    url: \(fixture.remote)\n")
        let outcome = try await fixture.runner().run()
        #expect(outcome.push.state == .pushed)
        let rows = try fixture.rows(fixture.database)

        // The machine dies: local repository, state and database are gone.
        try FileManager.default.removeItem(atPath: fixture.repository)
        try FileManager.default.removeItem(atPath: fixture.stateDirectory)
        try FileManager.default.removeItem(atPath: fixture.database)
        let restore = try await fixture.opsctl(["restore", "--from-remote"])
        #expect(restore.status == 0, "\(restore.stderr)")
        #expect(try fixture.rows(fixture.database) == rows)

        // Backups go on from the remote's history: a delta on top of it, pushed as a fast-forward.
        try fixture.churn(0.01)
        let next = try await fixture.runner().run()
        #expect(next.databases.first?.layout == .delta)
        #expect(next.push.state == .pushed, "\(next.push.error ?? "")")
        let remoteLog = try await fixture.git(["log", "--format=%H", BackupPlan.hostName()], in: fixture.remote)
        #expect(remoteLog.stdout.split(separator: "\n").count == 2)
    }

    @Test("a first backup on a new machine, without restoring first, continues the remote's history")
    func firstBackupContinuesTheRemote() async throws {
        let fixture = try Fixture()
        _ = try await run("/usr/bin/git", ["init", "--quiet", "--bare", fixture.remote])
        try fixture.writeConfig(remote: "    url: \(fixture.remote)\n")
        let first = try await fixture.runner().run()
        try FileManager.default.removeItem(atPath: fixture.repository)
        try FileManager.default.removeItem(atPath: fixture.stateDirectory)
        try fixture.churn(0.01)
        let second = try await fixture.runner().run()
        #expect(second.push.state == .pushed, "\(second.push.error ?? "")")
        let parent = try await fixture.git(["rev-parse", "\(BackupPlan.hostName())^"], in: fixture.remote)
        #expect(parent.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == first.commit)
    }

    @Test("push over SSH to a real sshd: accepted with the right host key, refused with a wrong one")
    func sshPushChecksTheHostKey() async throws {
        let fixture = try Fixture()
        let sshd = try await SSHServer.start(in: fixture.directory)
        defer { sshd.stop() }
        _ = try await run("/usr/bin/git", ["init", "--quiet", "--bare", fixture.remote])
        let url = "ssh://root@127.0.0.1:\(sshd.port)\(fixture.remote)"
        try fixture.writeConfig(remote: """
                url: \(url)
                ssh_key: \(sshd.userKey)
                known_hosts: \(sshd.knownHosts)

            """)
        let pushed = try await fixture.runner().run()
        #expect(pushed.push.state == .pushed, "\(pushed.push.error ?? "")")
        let remoteHead = try await fixture.git(["rev-parse", BackupPlan.hostName()], in: fixture.remote)
        #expect(remoteHead.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == pushed.commit)

        // Another host's key under this address: the connection must be refused, nothing sent.
        let otherKey = fixture.directory + "/other_host_key"
        _ = try await run("/usr/bin/ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", otherKey])
        let otherPublic = try String(contentsOfFile: otherKey + ".pub", encoding: .utf8).split(separator: " ").prefix(2).joined(separator: " ")
        try "[127.0.0.1]:\(sshd.port) \(otherPublic)\n".write(toFile: sshd.knownHosts, atomically: true, encoding: .utf8)
        try fixture.churn(0.01)
        let refused = try await fixture.runner().run()
        #expect(refused.push.state == .failed)
        #expect(refused.push.error?.contains("host key of 127.0.0.1 is not in \(sshd.knownHosts)") == true, "\(refused.push.error ?? "")")
        let stillOld = try await fixture.git(["rev-parse", BackupPlan.hostName()], in: fixture.remote)
        #expect(stillOld.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == pushed.commit)
    }

    @Test("a reference the server declines (a pre-receive hook over SSH) is reported as refused, though libgit2's push call succeeds")
    func serverDeclinesTheReference() async throws {
        let fixture = try Fixture()
        let sshd = try await SSHServer.start(in: fixture.directory)
        defer { sshd.stop() }
        _ = try await run("/usr/bin/git", ["init", "--quiet", "--bare", fixture.remote])
        let hook = fixture.remote + "/hooks/pre-receive"
        try "#!/bin/sh\necho 'backups are frozen' >&2\nexit 1\n".write(toFile: hook, atomically: true, encoding: .utf8)
        chmod(hook, 0o755)
        try fixture.writeConfig(remote: """
                url: ssh://root@127.0.0.1:\(sshd.port)\(fixture.remote)
                ssh_key: \(sshd.userKey)
                known_hosts: \(sshd.knownHosts)

            """)
        let outcome = try await fixture.runner().run()
        #expect(outcome.commit != nil)
        #expect(outcome.push.state == .failed)
        #expect(outcome.push.error?.contains("refused \(BackupPlan.hostName())") == true, "\(outcome.push.error ?? "")")
        let remoteBranches = try await fixture.git(["branch", "--list"], in: fixture.remote)
        #expect(remoteBranches.stdout.isEmpty)
    }

    @Test("a wrong SSH key gives up after one attempt with a clear error instead of looping")
    func wrongKeyGivesUp() async throws {
        let fixture = try Fixture()
        let sshd = try await SSHServer.start(in: fixture.directory)
        defer { sshd.stop() }
        _ = try await run("/usr/bin/git", ["init", "--quiet", "--bare", fixture.remote])
        let strangerKey = fixture.directory + "/stranger"
        _ = try await run("/usr/bin/ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", strangerKey])
        try fixture.writeConfig(remote: """
                url: ssh://root@127.0.0.1:\(sshd.port)\(fixture.remote)
                ssh_key: \(strangerKey)
                known_hosts: \(sshd.knownHosts)

            """)
        let outcome = try await fixture.runner().run()
        #expect(outcome.push.state == .failed)
        #expect(outcome.push.error?.contains("rejected the credentials (ssh_key \(strangerKey))") == true, "\(outcome.push.error ?? "")")
    }
}

/// A real OpenSSH server on 127.0.0.1, with its own host key, user key and config file.
struct SSHServer {
    let process: BackgroundProcess
    let port: Int
    let userKey: String
    let knownHosts: String

    static func start(in directory: String) async throws -> SSHServer {
        let base = directory + "/sshd"
        try FileManager.default.createDirectory(atPath: base, withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: "/run/sshd", withIntermediateDirectories: true)
        for (file, comment) in [("host_key", "host"), ("user_key", "user")] {
            let keygen = try await run("/usr/bin/ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", "\(base)/\(file)"])
            guard keygen.status == 0 else { throw TestFailure("ssh-keygen: \(keygen.stderr)") }
        }
        try FileManager.default.copyItem(atPath: "\(base)/user_key.pub", toPath: "\(base)/authorized_keys")
        let port = try freePort()
        try """
            Port \(port)
            ListenAddress 127.0.0.1
            HostKey \(base)/host_key
            AuthorizedKeysFile \(base)/authorized_keys
            PermitRootLogin prohibit-password
            PasswordAuthentication no
            KbdInteractiveAuthentication no
            UsePAM no
            StrictModes no
            PidFile none

            """.write(toFile: "\(base)/sshd_config", atomically: true, encoding: .utf8)
        let hostPublic = try String(contentsOfFile: "\(base)/host_key.pub", encoding: .utf8).split(separator: " ").prefix(2).joined(separator: " ")
        try "[127.0.0.1]:\(port) \(hostPublic)\n".write(toFile: "\(base)/known_hosts", atomically: true, encoding: .utf8)
        let process = try BackgroundProcess("/usr/sbin/sshd", ["-D", "-e", "-f", "\(base)/sshd_config"])
        let server = SSHServer(process: process, port: port, userKey: "\(base)/user_key", knownHosts: "\(base)/known_hosts")
        let listening = try await waitUntil(timeout: .seconds(20)) { canConnect(port: port) }
        guard listening else {
            server.stop()
            throw TestFailure("sshd did not start listening: \(process.log)")
        }
        return server
    }

    func stop() { process.kill() }
}

func canConnect(port: Int) -> Bool {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    address.sin_port = UInt16(port).bigEndian
    return withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 }
    }
}
