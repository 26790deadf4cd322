import Backup
import Foundation
import Testing
import TestSupport

/// git's own smart-HTTP server (`git http-backend`) behind Debian's lighttpd with TLS and Basic
/// authentication, on 127.0.0.1: the https remote a user of a git host or a self-hosted server has.
final class GitHTTPSServer {
    let process: BackgroundProcess
    let port: Int
    /// The bare repository the server serves as /git/backup.git.
    let repository: String

    /// Serves `directory/repos/backup.git`, accepting `user:password` only; TLS with `certificate`
    /// and `key`.
    init(directory: String, user: String, password: String, certificate: String, key: String) async throws {
        let root = directory + "/repos"
        repository = root + "/backup.git"
        try FileManager.default.createDirectory(atPath: directory + "/www", withIntermediateDirectories: true)
        let created = try await run("/usr/bin/git", ["init", "--quiet", "--bare", repository])
        guard created.status == 0 else { throw TestFailure("git init: \(created.stderr)") }
        try "\(user):\(password)\n".write(toFile: directory + "/users", atomically: true, encoding: .utf8)
        port = try freePort()
        let config = directory + "/lighttpd.conf"
        try """
            server.modules = ("mod_access", "mod_alias", "mod_auth", "mod_authn_file", "mod_setenv", "mod_cgi", "mod_openssl")
            server.document-root = "\(directory)/www"
            server.bind = "127.0.0.1"
            server.port = \(port)
            server.errorlog = "\(directory)/lighttpd.error.log"
            ssl.engine = "enable"
            ssl.pemfile = "\(certificate)"
            ssl.privkey = "\(key)"
            auth.backend = "plain"
            auth.backend.plain.userfile = "\(directory)/users"
            alias.url = ("/git/" => "/usr/lib/git-core/git-http-backend/")
            $HTTP["url"] =~ "^/git/" {
                cgi.assign = ("" => "")
                setenv.add-environment = ("GIT_PROJECT_ROOT" => "\(root)", "GIT_HTTP_EXPORT_ALL" => "1")
                auth.require = ("" => ("method" => "basic", "realm" => "git", "require" => "valid-user"))
            }
            """.write(toFile: config, atomically: true, encoding: .utf8)
        process = try BackgroundProcess("/usr/sbin/lighttpd", ["-D", "-f", config])
        let port = self.port
        guard try await waitUntil(timeout: .seconds(30), { connects(port: port) }) else {
            process.kill()
            let errors = (try? String(contentsOfFile: directory + "/lighttpd.error.log", encoding: .utf8)) ?? ""
            throw TestFailure("lighttpd did not start: \(process.log) \(errors)")
        }
    }

    /// By name: libgit2 1.5 checks a certificate's DNS names only, so an https remote given as an
    /// IP address fails verification even when the certificate lists that address.
    var url: String { "https://localhost:\(port)/git/backup.git" }

    deinit { process.kill() }
}

/// A TCP port on 127.0.0.1 that nothing listens on now.
private func freePort() throws -> Int {
    let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(descriptor) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    let bound = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
    guard bound == 0 else { throw TestFailure("bind: \(String(cString: strerror(errno)))") }
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    _ = withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(descriptor, $0, &length) } }
    return Int(UInt16(bigEndian: address.sin_port))
}

/// Whether something accepts a TCP connection on 127.0.0.1:`port`.
private func connects(port: Int) -> Bool {
    let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(descriptor) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = UInt16(port).bigEndian
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    return withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } } == 0
}

/// Issue 15 item 7: the https remote against a real server, not only against test doubles.
@Suite("Backup: push over https to git http-backend behind lighttpd with TLS and a token", .serialized)
struct HTTPSRemoteTests {
    /// A certificate authority and a server certificate it signed for 127.0.0.1.
    static func certificates(in directory: String, name: String) async throws -> (authority: String, certificate: String, key: String) {
        let authority = "\(directory)/\(name)-ca.pem", authorityKey = "\(directory)/\(name)-ca.key"
        let certificate = "\(directory)/\(name).pem", key = "\(directory)/\(name).key", request = "\(directory)/\(name).csr"
        let extensions = "\(directory)/\(name).ext"
        try "subjectAltName=IP:127.0.0.1,DNS:localhost\n".write(toFile: extensions, atomically: true, encoding: .utf8)
        for arguments in [
            ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", authorityKey, "-out", authority, "-days", "2", "-subj", "/CN=\(name) test CA"],
            ["req", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", request, "-subj", "/CN=127.0.0.1"],
            ["x509", "-req", "-in", request, "-CA", authority, "-CAkey", authorityKey, "-CAcreateserial", "-out", certificate, "-days", "2", "-extfile", extensions],
        ] {
            let made = try await run("/usr/bin/openssl", arguments)
            guard made.status == 0 else { throw TestFailure("openssl \(arguments[0]): \(made.stderr)") }
        }
        return (authority, certificate, key)
    }

    @Test("the right token pushes (the server's branch is the local one); a refused token and an untrusted certificate each fail the push, say why, and leak no token")
    func pushOverHTTPS() async throws {
        let fixture = try Fixture()
        let token = "tok-" + UUID().uuidString
        let trusted = try await Self.certificates(in: fixture.directory, name: "server")
        let server = try await GitHTTPSServer(
            directory: fixture.directory + "/http", user: "x-access-token", password: token, certificate: trusted.certificate, key: trusted.key)
        let environment = ["GIT_SSL_CAINFO": trusted.authority]

        try (token + "\n").write(toFile: fixture.directory + "/token", atomically: true, encoding: .utf8)
        try fixture.writeConfig(remote: "    url: \(server.url)\n    token_file: \(fixture.directory)/token\n")
        let pushed = try await fixture.opsctl(["backup"], environment: environment)
        #expect(pushed.status == 0, "\(pushed.stdout) \(pushed.stderr)")
        let branch = try await fixture.git(["for-each-ref", "--format=%(refname) %(objectname)", "refs/heads/"])
        let served = try await fixture.git(["for-each-ref", "--format=%(refname) %(objectname)", "refs/heads/"], in: server.repository)
        #expect(!branch.stdout.isEmpty && served.stdout == branch.stdout, "local \(branch.stdout) remote \(served.stdout)")
        let fsck = try await fixture.git(["fsck", "--strict"], in: server.repository)
        #expect(fsck.status == 0, "\(fsck.stderr)")

        // A token the server refuses: the backup is kept locally, the push fails with the reason.
        try ("tok-wrong-" + UUID().uuidString + "\n").write(toFile: fixture.directory + "/token", atomically: true, encoding: .utf8)
        try fixture.churn(0.01)
        let refused = try await fixture.opsctl(["backup"], environment: environment)
        #expect(refused.status == 2, "committed, the push refused: \(refused.stdout) \(refused.stderr)")
        #expect(refused.stderr.contains("rejected the credentials"), "\(refused.stderr)")
        #expect(!(refused.stdout + refused.stderr).contains("tok-"), "no token in the output")

        // A server whose certificate no trusted authority signed: nothing is sent to it.
        try (token + "\n").write(toFile: fixture.directory + "/token", atomically: true, encoding: .utf8)
        let other = try await Self.certificates(in: fixture.directory, name: "other")
        let wrongAuthority = ["GIT_SSL_CAINFO": other.authority]
        let rejected = try await fixture.opsctl(["backup"], environment: wrongAuthority)
        #expect(rejected.status == 2, "\(rejected.stdout) \(rejected.stderr)")
        #expect(rejected.stderr.contains("TLS certificate of localhost is not valid"), "\(rejected.stderr)")
        #expect(!(rejected.stdout + rejected.stderr).contains(token))
        let after = try await fixture.git(["for-each-ref", "--format=%(refname) %(objectname)", "refs/heads/"], in: server.repository)
        #expect(after.stdout == served.stdout, "the refused pushes changed nothing on the server")

        // Trusted and accepted again: the backups that stayed local reach the server.
        let caughtUp = try await fixture.opsctl(["backup"], environment: environment)
        #expect(caughtUp.status == 0, "\(caughtUp.stdout) \(caughtUp.stderr)")
        let local = try await fixture.git(["for-each-ref", "--format=%(refname) %(objectname)", "refs/heads/"])
        let remote = try await fixture.git(["for-each-ref", "--format=%(refname) %(objectname)", "refs/heads/"], in: server.repository)
        #expect(remote.stdout == local.stdout && remote.stdout != served.stdout, "local \(local.stdout) remote \(remote.stdout)")
    }
}
