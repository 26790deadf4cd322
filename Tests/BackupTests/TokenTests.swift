import Backup
import Foundation
import Testing
import TestSupport

/// A small HTTPS server on 127.0.0.1 (python3's http.server) that either redirects every request
/// to `redirect` or asks for Basic credentials, and records every Authorization header it gets.
final class RecordingServer {
    let process: BackgroundProcess
    let port: Int
    let log: String

    init(directory: String, name: String, redirect: String?, certificate: String, key: String) async throws {
        let portFile = "\(directory)/\(name).port"
        log = "\(directory)/\(name).log"
        _ = FileManager.default.createFile(atPath: log, contents: nil)
        process = try BackgroundProcess("/usr/bin/python3", ["-c", """
            import http.server, ssl, sys, os
            port_file, log, redirect, cert, key = sys.argv[1:6]
            class Handler(http.server.BaseHTTPRequestHandler):
                def answer(self):
                    with open(log, 'a') as f:
                        f.write('%s %s authorization=%s\\n' % (self.command, self.path, self.headers.get('Authorization', '-')))
                    if redirect != '-':
                        self.send_response(302); self.send_header('Location', redirect + self.path)
                    else:
                        self.send_response(401); self.send_header('WWW-Authenticate', 'Basic realm="git"')
                    self.send_header('Content-Length', '0'); self.end_headers()
                do_GET = do_POST = answer
                def log_message(self, *args): pass
            server = http.server.HTTPServer(('127.0.0.1', 0), Handler)
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER); context.load_cert_chain(cert, key)
            server.socket = context.wrap_socket(server.socket, server_side=True)
            open(port_file + '.tmp', 'w').write(str(server.server_address[1])); os.replace(port_file + '.tmp', port_file)
            server.serve_forever()
            """, portFile, log, redirect ?? "-", certificate, key])
        guard try await waitUntil(timeout: .seconds(30), { FileManager.default.fileExists(atPath: portFile) }),
              let port = Int(try String(contentsOfFile: portFile, encoding: .utf8)) else {
            process.kill()
            throw TestFailure("the test server did not start: \(process.log)")
        }
        self.port = port
    }

    var requests: [String] { ((try? String(contentsOfFile: log, encoding: .utf8)) ?? "").split(separator: "\n").map(String.init) }

    deinit { process.kill() }
}

@Suite("Backup: the git token goes only to the configured https server", .serialized)
struct TokenTests {
    @Test("a remote that redirects (same host, other port; other host) never receives or forwards the token; the configured server does")
    func noTokenThroughRedirects() async throws {
        let fixture = try Fixture()
        let token = "tok-" + UUID().uuidString
        try (token + "\n").write(toFile: fixture.directory + "/token", atomically: true, encoding: .utf8)
        let certificate = fixture.directory + "/cert.pem", key = fixture.directory + "/key.pem"
        // Another name of this machine (in /etc/hosts), for a redirect to another host.
        let host = BackupPlan.hostName()
        let made = try await run("/usr/bin/openssl", [
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", certificate, "-days", "2",
            "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,DNS:\(host),IP:127.0.0.1",
        ])
        #expect(made.status == 0, "\(made.stderr)")
        let basic = "Basic " + Data("x-access-token:\(token)".utf8).base64EncodedString()
        let environment = ["GIT_SSL_CAINFO": certificate, "SSL_CERT_FILE": certificate]

        // The control: the configured server asks, and gets the token.
        let direct = try await RecordingServer(directory: fixture.directory, name: "direct", redirect: nil, certificate: certificate, key: key)
        try fixture.writeConfig(remote: "    url: https://localhost:\(direct.port)/backup.git\n    token_file: \(fixture.directory)/token\n")
        let control = try await fixture.opsctl(["backup"], environment: environment)
        #expect(control.status == 2, "committed, the push refused: \(control.stdout) \(control.stderr)")
        #expect(direct.requests.contains { $0.contains("authorization=\(basic)") }, "the configured server got the token: \(direct.requests)")

        for target in ["localhost", host] {
            let elsewhere = try await RecordingServer(directory: fixture.directory, name: "elsewhere-\(target)", redirect: nil, certificate: certificate, key: key)
            let redirecting = try await RecordingServer(
                directory: fixture.directory, name: "redirecting-\(target)", redirect: "https://\(target):\(elsewhere.port)", certificate: certificate, key: key)
            try fixture.writeConfig(remote: "    url: https://localhost:\(redirecting.port)/backup.git\n    token_file: \(fixture.directory)/token\n")
            let backup = try await fixture.opsctl(["backup"], environment: environment)
            #expect(backup.status == 2, "\(backup.stdout) \(backup.stderr)")
            #expect(!redirecting.requests.isEmpty, "the push reached the configured server")
            let leaked = (redirecting.requests + elsewhere.requests).filter { !$0.hasSuffix("authorization=-") }
            #expect(leaked.isEmpty, "redirect to \(target): an Authorization header was sent: \(leaked)")
            #expect(!backup.stdout.contains(token) && !backup.stderr.contains(token))
            if target == host {
                #expect(elsewhere.requests.isEmpty, "a redirect to another host is not followed at all: \(elsewhere.requests)")
            }
        }
    }
}
