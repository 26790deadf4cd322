import Foundation
import Testing
import TestSupport
@testable import Checks
import OpsConfig

@Suite("http checks against a real server on loopback")
struct HTTPCheckTests {
    @Test("status, body text, regex, JSON field, headers from a file and the environment, redirects")
    func plainHTTP() async throws {
        let scratch = try Scratch()
        defer { scratch.remove() }
        let server = try await FixtureServer(scratch: scratch)
        defer { server.stop() }

        let ok = await runOnce(.http(HTTPCheckSpec(url: server.url("/ok"), bodyContains: "ok", bodyMatches: "^o.$")))
        #expect(ok.state == .ok, "\(ok.message)")
        #expect(ok.unit == "ms" && (ok.value ?? -1) >= 0)
        #expect(ok.message.hasPrefix("HTTP 200 in"))

        let error = await runOnce(.http(HTTPCheckSpec(url: server.url("/status/500"))))
        #expect(error.state == .crit)
        #expect(error.message.hasPrefix("status 500, expected 200 (HTTP 500 in"))
        #expect(await runOnce(.http(HTTPCheckSpec(url: server.url("/status/503"), expectStatus: [200, 503]))).state == .ok)

        let json = await runOnce(.http(HTTPCheckSpec(url: server.url("/json"), jsonField: JSONFieldExpectation(path: "checks.db", equals: "true"))))
        #expect(json.state == .ok, "\(json.message)")
        let wrongJSON = await runOnce(.http(HTTPCheckSpec(url: server.url("/json"), jsonField: JSONFieldExpectation(path: "status", equals: "DOWN"))))
        #expect(wrongJSON.state == .crit)
        #expect(wrongJSON.message.hasPrefix("JSON field status is UP, expected DOWN"))
        #expect(HTTPCheck.jsonValue(in: #"{"items":[{"id":7}],"n":1}"#, path: "items.0.id") == "7")
        #expect(HTTPCheck.jsonValue(in: #"{"n":1}"#, path: "n") == "1")
        #expect(HTTPCheck.jsonValue(in: #"{"n":1}"#, path: "missing") == nil)

        let noMatch = await runOnce(.http(HTTPCheckSpec(url: server.url("/ok"), bodyContains: "healthy")))
        #expect(noMatch.state == .crit)
        #expect(noMatch.message.hasPrefix(#"the body does not contain "healthy""#))

        let token = try scratch.write("token", "Bearer s3cret-token\n")
        let fromFile = await runOnce(.http(HTTPCheckSpec(
            url: server.url("/echo-header/Authorization"), bodyContains: "Bearer s3cret-token",
            headers: [HeaderSpec(name: "Authorization", value: .file(token))]
        )))
        #expect(fromFile.state == .ok, "\(fromFile.message)")
        let withKey = CheckEnvironment(spawner: spawner, variables: ["API_KEY": "k-42"])
        let fromEnvironment = await withKey.check(for: spec("env", .http(HTTPCheckSpec(
            url: server.url("/echo-header/X-Api-Key"), bodyContains: "k-42", headers: [HeaderSpec(name: "X-Api-Key", value: .environment("API_KEY"))]
        )))).run()
        #expect(fromEnvironment.state == .ok, "\(fromEnvironment.message)")
        let unset = await runOnce(.http(HTTPCheckSpec(url: server.url("/ok"), headers: [HeaderSpec(name: "X-Api-Key", value: .environment("OPS_TEST_UNSET_VARIABLE"))])))
        #expect(unset.state == .unknown)
        #expect(unset.message == "the header X-Api-Key comes from $OPS_TEST_UNSET_VARIABLE, which is not set")

        #expect(await runOnce(.http(HTTPCheckSpec(url: server.url("/redirect")))).state == .ok)
        let notFollowed = await runOnce(.http(HTTPCheckSpec(url: server.url("/redirect"), maxRedirects: 0)))
        #expect(notFollowed.state == .crit)
        #expect(notFollowed.message.hasPrefix("status 302"))
    }

    @Test("a pattern that backtracking engines take exponential time over is answered on a 64 KiB body, off the event loop", .timeLimit(.minutes(5)))
    func pathologicalPattern() async throws {
        let scratch = try Scratch()
        defer { scratch.remove() }
        let server = try await FixtureServer(scratch: scratch)
        defer { server.stop() }
        let result = await runOnce(.http(HTTPCheckSpec(url: server.url("/big?n=65536"), bodyMatches: "(x+)+y")))
        #expect(result.state == .crit)
        #expect(result.message.hasPrefix("the body does not match /(x+)+y/ (HTTP 200 in"), "\(result.message)")
        let matched = await runOnce(.http(HTTPCheckSpec(url: server.url("/big?n=65536"), bodyMatches: "(x+)+$")))
        #expect(matched.state == .ok, "\(matched.message)")
        // A spec made in code, past the config's check: the run says why it cannot match.
        let invalid = await runOnce(.http(HTTPCheckSpec(url: server.url("/ok"), bodyMatches: "(o)\\1")))
        #expect(invalid.state == .unknown)
        #expect(invalid.message == "body_matches /(o)\\1/ uses a back-reference (\\1), which cannot be matched in linear time; repeat the text instead")
    }

    @Test("configured headers go to the URL's origin only, never along a redirect to another one")
    func headersStayWithTheirOrigin() async throws {
        let scratch = try Scratch()
        defer { scratch.remove() }
        let first = try await FixtureServer(scratch: scratch)
        defer { first.stop() }
        let second = try await FixtureServer(scratch: scratch)
        defer { second.stop() }
        let header = [HeaderSpec(name: "X-Api-Key", value: .literal("k-42"))]
        let sameOrigin = first.url("/redirect-to?url=/echo-header/X-Api-Key")
        let kept = await runOnce(.http(HTTPCheckSpec(url: sameOrigin, bodyContains: "k-42", headers: header, maxRedirects: 1)))
        #expect(kept.state == .ok, "\(kept.message)")
        let otherOrigin = first.url("/redirect-to?url=\(second.url("/echo-header/X-Api-Key"))")
        let dropped = await runOnce(.http(HTTPCheckSpec(url: otherOrigin, bodyContains: "k-42", headers: header, maxRedirects: 1)))
        #expect(dropped.state == .crit)
        #expect(dropped.message.hasPrefix(#"the body does not contain "k-42" (HTTP 200"#), "\(dropped.message)")
    }

    @Test("a body read to the connection's end; past 1 MiB the check is CRIT; a host name resolves")
    func bodies() async throws {
        let scratch = try Scratch()
        defer { scratch.remove() }
        let server = try await FixtureServer(scratch: scratch)
        defer { server.stop() }
        let small = await runOnce(.http(HTTPCheckSpec(url: server.url("/big?n=1000"), bodyMatches: "^x{1000}$")))
        #expect(small.state == .ok, "\(small.message)")
        let big = await runOnce(.http(HTTPCheckSpec(url: server.url("/big?n=2000000"))))
        #expect(big.state == .crit)
        #expect(big.message.hasSuffix("the body is larger than 1048576 bytes"), "\(big.message)")
        // localhost may come first as ::1, where nothing listens: the next address is tried.
        let named = await runOnce(.http(HTTPCheckSpec(url: "http://localhost:\(server.port)/ok")))
        #expect(named.state == .ok, "\(named.message)")
    }

    @Test("a slow endpoint past the timeout is UNKNOWN; latency thresholds in ms")
    func slow() async throws {
        let scratch = try Scratch()
        defer { scratch.remove() }
        let server = try await FixtureServer(scratch: scratch)
        defer { server.stop() }
        // The server would answer after a minute: the check must give up long before, at its timeout.
        let timedOut = await runOnce(.http(HTTPCheckSpec(url: server.url("/slow?s=60"))), timeout: .milliseconds(500))
        #expect(timedOut.state == .unknown)
        #expect(timedOut.durationSeconds < 30)
        // Between the thresholds: 0.3 s is past warn, and crit is far enough off for a loaded machine.
        let tooSlow = await runOnce(.http(HTTPCheckSpec(url: server.url("/slow?s=0.3"))), warn: "100", crit: "120000")
        #expect(tooSlow.state == .warn)
        #expect(tooSlow.message.hasSuffix("(warn 100)"))
    }

    @Test("nothing listening is CRIT with the reason")
    func refused() async throws {
        // A bound socket that never listens refuses connections, and holding it keeps the port
        // from going to a server another test starts meanwhile (a closed "free port" may).
        let holder = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(holder) }
        let port = try bindLoopback(holder)
        let result = await runOnce(.http(HTTPCheckSpec(url: "http://127.0.0.1:\(port)/")))
        #expect(result.state == .crit)
        #expect(result.message.contains("127.0.0.1:\(port)"))
    }

    @Test("TLS with a self-signed certificate that expires in 5 days: trusted via ca_file, WARN at 14 days")
    func certificateExpiry() async throws {
        let scratch = try Scratch()
        defer { scratch.remove() }
        let cert = scratch.file("cert.pem"), key = scratch.file("key.pem")
        let made = try await environment.commands.run([
            "/usr/bin/openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert, "-days", "5",
            "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
        ])
        #expect(made.status.isSuccess, "\(made.output)")
        let server = try await FixtureServer(scratch: scratch, extra: ["--cert", cert, "--key", key])
        defer { server.stop() }
        let url = server.url("/ok", scheme: "https")

        let untrusted = await runOnce(.http(HTTPCheckSpec(url: url)))
        #expect(untrusted.state == .crit, "\(untrusted.message)")

        let expiring = await runOnce(.http(HTTPCheckSpec(url: url, certificateWarnDays: 14, certificateCritDays: 3, caFile: cert)))
        #expect(expiring.state == .warn, "\(expiring.message)")
        #expect(expiring.message.hasPrefix("the certificate expires in under 14 days"))
        let days = try #require(expiring.metrics.first { $0.label == "certificate" }?.value)
        #expect((4.9...5.0).contains(days))
        #expect(await runOnce(.http(HTTPCheckSpec(url: url, certificateWarnDays: 2, caFile: cert))).state == .ok)
        // A body that ends with the connection, closed without TLS close_notify (as Python's
        // server and many others do): the answer is complete, not a TLS failure.
        let closeDelimited = await runOnce(.http(HTTPCheckSpec(url: server.url("/big?n=1000", scheme: "https"), bodyMatches: "^x{1000}$", caFile: cert)))
        #expect(closeDelimited.state == .ok, "\(closeDelimited.message)")
        #expect(await runOnce(.http(HTTPCheckSpec(url: url, certificateWarnDays: 30, certificateCritDays: 10, caFile: cert))).state == .crit)
    }
}
