import DaemonRuntime
import FoundationEssentials
import Glibc
public import HTTPClient
public import OpsConfig
import Scheduling

/// An HTTP endpoint: status code, latency, body (text, regular expression, a JSON field) and,
/// for https, the days until the server's certificate expires.
///
/// An unexpected answer or an unreachable server is CRIT: that is the outage the check watches
/// for. A timeout is UNKNOWN (through `ConfiguredCheck`): nobody knows what the server would have
/// said. The primary value is the latency in milliseconds, so `warn: 300` warns above 300 ms.
public struct HTTPCheck: Check {
    let spec: HTTPCheckSpec
    let fetcher: HTTPFetcher
    let environment: [String: String]
    /// `body_matches`, compiled (the config has checked that it compiles; a spec made in code
    /// may still hold one that does not, and then each run says so).
    let pattern: Result<TextPattern, TextPattern.SyntaxError>?

    /// Creates the check; header secrets from `env:` are looked up in `environment`.
    public init(spec: HTTPCheckSpec, fetcher: HTTPFetcher, environment: [String: String]) {
        self.spec = spec
        self.fetcher = fetcher
        self.environment = environment
        pattern = spec.bodyMatches.map { source in Result { () throws(TextPattern.SyntaxError) in try TextPattern(source) } }
    }

    /// Bodies beyond this are not read; health endpoints answer in bytes, not megabytes.
    static let bodyLimit = 1 << 20

    public func observe(deadline: ContinuousClock.Instant) async throws -> Observation {
        if case .failure(let problem)? = pattern { throw CheckFailure("body_matches /\(spec.bodyMatches ?? "")/ \(problem)") }
        let request = HTTPFetcher.Request(
            url: spec.url, method: spec.method, headers: try spec.headers.map { ($0.name, try value(of: $0)) },
            maxRedirects: spec.maxRedirects, caFile: spec.caFile, bodyLimit: Self.bodyLimit
        )
        let started = ContinuousClock.now
        let response: HTTPFetcher.Response
        do {
            response = try await fetcher.fetch(request, deadline: deadline)
        } catch HTTPFetcher.Failure.timedOut {
            throw CheckFailure("no answer from \(Redacted.url(spec.url)) within the timeout")
        } catch let failure as HTTPFetcher.Failure {
            return Observation(summary: "\(Redacted.url(spec.url)): \(failure)", state: .crit)
        }
        let latencyMs = (ContinuousClock.now - started).seconds * 1000
        var metrics = [PerfDatum(label: "time", value: (latencyMs * 1000).rounded() / 1000, unit: "ms", min: 0)]
        var problems: [String] = []
        if !spec.expectStatus.contains(response.status) {
            problems.append("status \(response.status), expected \(spec.expectStatus.map(String.init).joined(separator: " or "))")
        }
        problems += try await bodyProblems(response.body, deadline: deadline)
        var state: CheckState = problems.isEmpty ? .ok : .crit
        var summary = "HTTP \(response.status) in \(NumberText.fixed(latencyMs, digits: 1)) ms"
        if spec.url.hasPrefix("https://"), spec.certificateWarnDays != nil || spec.certificateCritDays != nil {
            guard let notAfter = response.certificateNotAfter else { throw CheckFailure("the server presented no certificate") }
            let days = (Double(notAfter) - Date().timeIntervalSince1970) / 86400
            metrics.append(PerfDatum(label: "certificate", value: (days * 10).rounded() / 10, unit: "d"))
            summary += ", certificate valid for \(NumberText.fixed(days, digits: 1)) more days"
            if let crit = spec.certificateCritDays, days < Double(crit) {
                state = max(state, .crit)
                problems.append("the certificate expires in under \(crit) days")
            } else if let warn = spec.certificateWarnDays, days < Double(warn) {
                state = max(state, .warn)
                problems.append("the certificate expires in under \(warn) days")
            }
        }
        if !problems.isEmpty { summary = problems.joined(separator: "; ") + " (" + summary + ")" }
        return Observation(value: latencyMs, unit: CheckKindDescriptor.http.unit, summary: summary, metrics: metrics, state: state)
    }

    /// What the body lacks. A pattern or a JSON document is read on a thread of its own: on up
    /// to `bodyLimit` bytes it takes milliseconds, which would hold up everything queued on the
    /// event loop; the pattern stops at the deadline (see `TextPattern`).
    private func bodyProblems(_ body: [UInt8], deadline: ContinuousClock.Instant) async throws -> [String] {
        guard pattern != nil || spec.jsonField != nil else {
            return bodyProblems(String(decoding: body, as: UTF8.self), deadline: deadline)
        }
        return try await blocking { bodyProblems(String(decoding: body, as: UTF8.self), deadline: deadline) }
    }

    private func bodyProblems(_ text: String, deadline: ContinuousClock.Instant) -> [String] {
        var problems: [String] = []
        if let needle = spec.bodyContains, !text.contains(needle) {
            problems.append("the body does not contain \"\(needle)\"")
        }
        if case .success(let pattern)? = pattern {
            switch pattern.matches(text, shouldStop: { ContinuousClock.now >= deadline }) {
            case false?: problems.append("the body does not match /\(pattern.source)/")
            case nil: problems.append("matching the body against /\(pattern.source)/ did not finish within the timeout")
            default: break
            }
        }
        if let expectation = spec.jsonField {
            switch Self.jsonValue(in: text, path: expectation.path) {
            case .none:
                problems.append("the body has no JSON field \(expectation.path)")
            case .some(let found) where found != expectation.equals:
                problems.append("JSON field \(expectation.path) is \(found.prefix(60)), expected \(expectation.equals)")
            default:
                break
            }
        }
        return problems
    }

    /// The value at a dotted path, as text (`true`, `42`, `UP`); nil when the path is missing.
    static func jsonValue(in text: String, path: String) -> String? {
        guard var node = try? JSONDecoder().decode(JSONValue.self, from: Data(text.utf8)) else { return nil }
        for part in path.split(separator: ".") {
            switch node {
            case .object(let object): guard let next = object[String(part)] else { return nil }; node = next
            case .array(let array): guard let index = Int(part), array.indices.contains(index) else { return nil }; node = array[index]
            default: return nil
            }
        }
        return node.text
    }

    private func value(of header: HeaderSpec) throws -> String {
        switch header.value {
        case .literal(let text):
            return text
        case .environment(let name):
            guard let value = environment[name] else {
                throw CheckFailure("the header \(header.name) comes from $\(name), which is not set")
            }
            return value
        case .file(let path):
            guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
                throw CheckFailure("cannot read the header \(header.name) from \(path); check that it exists and opsd may read it")
            }
            return String(text.split(separator: "\n", omittingEmptySubsequences: false).first ?? "")
        }
    }
}

/// URLs as they may appear in messages: without query strings, which often carry tokens.
enum Redacted {
    static func url(_ url: String) -> String {
        guard let query = url.firstIndex(of: "?") else { return url }
        return url[..<query] + "?…"
    }
}

extension JSONValue {
    /// The value as the config writes an expectation: `true`, `42`, `UP`, `null`.
    var text: String {
        switch self {
        case .null: "null"
        case .bool(let value): value ? "true" : "false"
        case .number(let value): PerfDatum.number(value)
        case .string(let value): value
        case .array(let items): "[" + items.map(\.text).joined(separator: ",") + "]"
        case .object(let fields): "{" + fields.keys.sorted().map { "\($0):\(fields[$0]?.text ?? "")" }.joined(separator: ",") + "}"
        }
    }
}
