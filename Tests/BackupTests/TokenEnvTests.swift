import Backup
import Foundation
import OpsConfig
import Testing
import TestSupport

@Suite("backup.remote.token_env: the HTTPS token from the environment, against git http-backend behind lighttpd with TLS")
struct TokenEnvTests {
    @Test("the token in the named variable pushes; unset or empty, the push fails naming the variable, and no token is printed")
    func pushWithTokenFromEnvironment() async throws {
        let fixture = try Fixture(rows: 500)
        let token = "tok-" + UUID().uuidString
        let trusted = try await HTTPSRemoteTests.certificates(in: fixture.directory, name: "server")
        let server = try await GitHTTPSServer(
            directory: fixture.directory + "/http", user: "x-access-token", password: token, certificate: trusted.certificate, key: trusted.key)
        try fixture.writeConfig(remote: "    url: \(server.url)\n    token_env: OPSD_TEST_GIT_TOKEN\n")
        let authority = ["GIT_SSL_CAINFO": trusted.authority]

        let unset = try await fixture.opsctl(["backup"], environment: authority)
        #expect(unset.status == 2, "committed, not pushed: \(unset.stdout) \(unset.stderr)")
        #expect(unset.stderr.contains("backup.remote.token_env names OPSD_TEST_GIT_TOKEN, which is not set in this process's environment"), "\(unset.stderr)")

        var empty = authority
        empty["OPSD_TEST_GIT_TOKEN"] = "  "
        let blank = try await fixture.opsctl(["backup"], environment: empty)
        #expect(blank.status == 2, "\(blank.stdout) \(blank.stderr)")
        #expect(blank.stderr.contains("names OPSD_TEST_GIT_TOKEN, which is empty"), "\(blank.stderr)")

        var wrong = authority
        wrong["OPSD_TEST_GIT_TOKEN"] = "tok-wrong-" + UUID().uuidString
        let refused = try await fixture.opsctl(["backup"], environment: wrong)
        #expect(refused.status == 2, "\(refused.stdout) \(refused.stderr)")
        #expect(refused.stderr.contains("rejected the credentials (token_env OPSD_TEST_GIT_TOKEN)"), "\(refused.stderr)")
        #expect(!(refused.stdout + refused.stderr).contains("tok-"), "no token in the output")

        var right = authority
        right["OPSD_TEST_GIT_TOKEN"] = token
        let pushed = try await fixture.opsctl(["backup"], environment: right)
        #expect(pushed.status == 0, "\(pushed.stdout) \(pushed.stderr)")
        #expect(!(pushed.stdout + pushed.stderr).contains(token))
        let local = try await fixture.git(["for-each-ref", "--format=%(refname) %(objectname)", "refs/heads/"])
        let served = try await fixture.git(["for-each-ref", "--format=%(refname) %(objectname)", "refs/heads/"], in: server.repository)
        #expect(!local.stdout.isEmpty && served.stdout == local.stdout, "local \(local.stdout) remote \(served.stdout)")
    }

    @Test("config check: token_env with token_file, or a name that is no variable name, is an error; the variable is withheld from opsd's children")
    func configuration() {
        func diagnostics(_ remote: String) -> [String] {
            ConfigLoader.parse(yaml: """
                backup:
                  repository: /var/lib/ops/backup.git
                  remote:
                    url: https://git.example.com/backups.git
                \(remote)
                """, baseDirectory: "/etc/ops").diagnostics.map(\.description)
        }
        let both = diagnostics("    token_file: /etc/ops/git-token\n    token_env: GIT_TOKEN")
        #expect(both.contains { $0.contains("backup.remote.token_env: token_file and token_env are both set; keep one") }, "\(both)")
        let badName = diagnostics("    token_env: 1-token")
        #expect(badName.contains { $0.contains("is not an environment variable name") }, "\(badName)")

        let good = ConfigLoader.parse(yaml: """
            backup:
              repository: /var/lib/ops/backup.git
              remote: {url: "https://git.example.com/backups.git", token_env: GIT_TOKEN}
            """, baseDirectory: "/etc/ops")
        #expect(good.diagnostics.isEmpty, "\(good.diagnostics)")
        #expect(good.configuration.backup?.remote?.tokenEnv == "GIT_TOKEN")
        #expect(ConfigSecrets.environmentVariables(in: good.configuration).contains("GIT_TOKEN"))
    }
}
