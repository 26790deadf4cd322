import FoundationEssentials
import Glibc

// MARK: checks

extension ConfigParser {
    /// Every key a check entry may have: its name, one kind's key (and that kind's companion
    /// keys), thresholds and timing.
    static let checkKeys = ConfigKeys.check

    /// The sections of the file a check kind may need, read before `checks:`.
    struct CheckContext {
        let workers: Set<String>
        let daemon: DaemonSettings
        let backup: BackupSpec?
        let backupDeclared: Bool
    }

    func check(_ node: Node, at path: String, context: CheckContext) -> CheckSpec? {
        guard let fields = reader.fields(node, at: path, allowed: ConfigKeys.check) else { return nil }
        let name = fields.required("name").flatMap { self.name($0, at: fields.keyPath("name")) }
        let kinds = CheckKindDescriptor.all.filter { fields.values[$0.key] != nil }
        var kind: CheckKind?
        switch kinds.count {
        case 0:
            reader.report(path, "says nothing to check; add one of: \(CheckKindDescriptor.all.map(\.key).joined(separator: ", "))", at: node)
        case 1:
            kind = kinds[0].read(self, CheckEntry(
                fields: fields, key: kinds[0].key, daemon: context.daemon, backup: context.backup, backupDeclared: context.backupDeclared))
        default:
            reader.report(path, "has \(kinds.map(\.key).joined(separator: " and ")); a check measures one thing, so split it into \(kinds.count) checks", at: node)
        }
        for owner in CheckKindDescriptor.all where kinds.map(\.key) != [owner.key] {
            for key in owner.companionKeys where fields[key] != nil {
                reader.report(fields.keyPath(key), "only applies to \(owner.key) checks", at: fields[key])
            }
        }
        let warn = fields.optional("warn", reader.threshold)
        let crit = fields.optional("crit", reader.threshold)
        if let kind, !kind.descriptor.measuresPercent {
            for (key, threshold) in [("warn", warn), ("crit", crit)] where threshold?.isPercent == true {
                reader.report(fields.keyPath(key), "is a percentage, but a \(kind.key) check measures \(kind.descriptor.measures); write a plain number or range", at: fields[key])
            }
        }
        var spec = CheckSpec(name: name ?? "", kind: kind ?? .memory, warn: warn, crit: crit)
        if let every = fields.optional("every", { reader.interval($0, at: $1, atLeast: CheckSpec.minimumEvery) }) { spec.every = every }
        if let timeout = fields.optional("timeout", reader.duration) { spec.timeout = timeout }
        if let count = fields.optional("fail_after", { reader.integer($0, at: $1, in: 1...100) }) { spec.failAfter = count }
        if let count = fields.optional("recover_after", { reader.integer($0, at: $1, in: 1...100) }) { spec.recoverAfter = count }
        spec.restart = fields.optional("restart") { checkRestart($0, at: $1, workers: context.workers) }
        spec.worker = fields.optional("worker") { declaredWorker($0, at: $1, workers: context.workers) }
        // A duration, or `0s` (also `0`): none, not even a watched worker's minute.
        if let period = fields.optional("start_period", reader.durationOrZero) { spec.startPeriod = period }
        guard name != nil, kind != nil else { return nil }
        return spec
    }

    private func checkRestart(_ node: Node, at path: String, workers: Set<String>) -> CheckRestart? {
        guard let fields = reader.fields(node, at: path, allowed: ConfigKeys.checkRestart) else { return nil }
        guard let worker = fields.required("worker").flatMap({ declaredWorker($0, at: fields.keyPath("worker"), workers: workers) }) else { return nil }
        let after = fields.optional("after") { reader.integer($0, at: $1, in: 1...100) } ?? 3
        return CheckRestart(worker: worker, after: after)
    }

    /// A worker's name that must be declared under `workers:` (`worker:`, `restart.worker`).
    private func declaredWorker(_ node: Node, at path: String, workers: Set<String>) -> String? {
        guard let worker = reader.nonEmptyString(node, at: path) else { return nil }
        guard workers.contains(worker) else {
            let known = workers.isEmpty ? "none is declared" : "declared: \(workers.sorted().joined(separator: ", "))"
            reader.report(path, "\(NodeReader.quote(worker)) is not a worker under workers: (\(known)); name one of them", at: node)
            return nil
        }
        return worker
    }

    // The readers of the kinds, one each, named by their descriptors.

    /// `disk: PATH` or `disk: [PATH…]`.
    func diskKind(_ entry: CheckEntry) -> CheckKind? {
        reader.paths(entry.node, at: entry.path, allowSingle: true).map { .disk(paths: $0) }
    }

    /// `memory: {}`: it measures the host and, inside a cgroup with a limit, the cgroup.
    func memoryKind(_ entry: CheckEntry) -> CheckKind? {
        reader.fields(entry.node, at: entry.path, allowed: []).map { _ in .memory }
    }

    /// `sqlite: PATH` or `sqlite: {path: PATH, query: SQL}`.
    func sqliteKind(_ entry: CheckEntry) -> CheckKind? {
        let (node, path) = (entry.node, entry.path)
        if case .mapping = node {
            guard let sqlite = reader.fields(node, at: path, allowed: ConfigKeys.sqliteCheck),
                  let file = sqlite.required("path").flatMap({ reader.path($0, at: sqlite.keyPath("path")) }) else { return nil }
            return .sqlite(SQLiteCheckSpec(path: file, query: sqlite.optional("query", reader.nonEmptyString)))
        }
        return reader.path(node, at: path).map { .sqlite(SQLiteCheckSpec(path: $0)) }
    }

    /// `command: [PLUGIN, ARGS…]` and `cwd: DIR`. A plugin given as a path (`./plugins/check_x`,
    /// `plugins/check_x`) is relative to the config file's directory, like every other path of
    /// the file, not to wherever opsd or opsctl happens to run; a bare name stays a PATH lookup.
    func commandKind(_ entry: CheckEntry) -> CheckKind? {
        let cwd = entry.fields.optional("cwd", reader.path)
        guard var arguments = command(entry.node, at: entry.path) else { return nil }
        if arguments[0].contains("/") { arguments[0] = reader.resolve(arguments[0]) }
        return .command(arguments, cwd: cwd)
    }

    /// `backup: {max_age: 26h}`, made whole from `daemon.state_dir` and `backup.remote`.
    func backupKind(_ entry: CheckEntry) -> CheckKind? {
        guard let options = reader.fields(entry.node, at: entry.path, allowed: ConfigKeys.backupCheck) else { return nil }
        let maxAge = options.optional("max_age", reader.duration) ?? .seconds(26 * 3600)
        guard let backup = entry.backup else {
            // A backup: section with problems has its own diagnostics; one that is missing needs saying here.
            if !entry.backupDeclared {
                reader.report(entry.path, "checks the backups of the backup: section, but there is none; add a backup: section", at: entry.node)
            }
            return nil
        }
        return .backup(BackupCheckSpec(maxAge: maxAge, stateDirectory: entry.daemon.stateDirectory, remoteConfigured: backup.remote != nil))
    }

    /// `http: URL` or `http: {url, method, headers, redirects, ca_file, certificate}`, with the
    /// entry's `expect:`.
    func httpKind(_ entry: CheckEntry) -> CheckKind? {
        let (node, path) = (entry.node, entry.path)
        let (expect, expectPath) = (entry.fields["expect"], entry.fields.keyPath("expect"))
        var spec: HTTPCheckSpec
        if case .mapping = node {
            guard let options = reader.fields(node, at: path, allowed: ConfigKeys.http),
                  let urlNode = options.required("url"), let url = httpURL(urlNode, at: options.keyPath("url")) else { return nil }
            spec = HTTPCheckSpec(url: url)
            if let method = options.optional("method", reader.nonEmptyString) {
                let allowed = ["GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH"]
                if allowed.contains(method.uppercased()) { spec.method = method.uppercased() } else {
                    reader.report(options.keyPath("method"), "\(NodeReader.quote(method)) is not an HTTP method; use one of \(allowed.joined(separator: ", "))", at: options["method"])
                }
            }
            spec.headers = options.optional("headers", headers) ?? []
            if let redirects = options.optional("redirects", { reader.integer($0, at: $1, in: 0...20) }) { spec.maxRedirects = redirects }
            spec.caFile = options.optional("ca_file", reader.path)
            if let certificate = options["certificate"],
               let days = reader.fields(certificate, at: options.keyPath("certificate"), allowed: ConfigKeys.certificate) {
                spec.certificateWarnDays = days.optional("warn_days") { reader.integer($0, at: $1, in: 0...3650) }
                spec.certificateCritDays = days.optional("crit_days") { reader.integer($0, at: $1, in: 0...3650) }
            }
        } else {
            guard let url = httpURL(node, at: path) else { return nil }
            spec = HTTPCheckSpec(url: url)
        }
        guard let expect, let fields = reader.fields(expect, at: expectPath, allowed: ConfigKeys.expect) else {
            return .http(spec)
        }
        if let statusNode = fields["status"] {
            let statusPath = fields.keyPath("status")
            if case .sequence = statusNode {
                spec.expectStatus = reader.items(statusNode, at: statusPath)?.compactMap { reader.integer($0.node, at: $0.path, in: 100...599) } ?? spec.expectStatus
            } else if let status = reader.integer(statusNode, at: statusPath, in: 100...599) {
                spec.expectStatus = [status]
            }
        }
        spec.bodyContains = fields.optional("body_contains", reader.nonEmptyString)
        if let pattern = fields.optional("body_matches", reader.nonEmptyString) {
            do {
                _ = try TextPattern(pattern)
                spec.bodyMatches = pattern
            } catch {
                reader.report(fields.keyPath("body_matches"), "\(NodeReader.quote(pattern)) \(error)", at: fields["body_matches"])
            }
        }
        if let json = fields["json"], let jsonFields = reader.fields(json, at: fields.keyPath("json"), allowed: ConfigKeys.expectJSON),
           let fieldPath = jsonFields.required("path").flatMap({ reader.nonEmptyString($0, at: jsonFields.keyPath("path")) }),
           let equals = jsonFields.required("equals").flatMap({ reader.string($0, at: jsonFields.keyPath("equals")) }) {
            spec.jsonField = JSONFieldExpectation(path: fieldPath, equals: equals)
        }
        return .http(spec)
    }

    private func httpURL(_ node: Node, at path: String) -> String? {
        guard let url = reader.nonEmptyString(node, at: path) else { return nil }
        guard url.hasPrefix("http://") || url.hasPrefix("https://") else {
            reader.report(path, "\(NodeReader.quote(url)) is not an http:// or https:// URL", at: node)
            return nil
        }
        if Self.hasPassword(url) {
            reader.report(path, "contains a password; send credentials in a header whose value comes from a file (headers: {Authorization: {file: PATH}})", at: node)
            return nil
        }
        return url
    }

    /// Header names whose values are credentials: these must come from a file or the environment.
    private static let secretHeaders = ["authorization", "proxy-authorization", "cookie"]

    private func headers(_ node: Node, at path: String) -> [HeaderSpec]? {
        guard case .mapping(let mapping) = node else {
            reader.report(path, "expected a mapping of Header-Name: value, found \(NodeReader.describe(node))", at: node)
            return nil
        }
        var result: [HeaderSpec] = []
        for (keyNode, valueNode) in mapping {
            guard let name = keyNode.scalar?.string, !name.isEmpty,
                  name.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-" || $0 == "_") }) else {
                reader.report(path, "\(NodeReader.describe(keyNode)) is not a header name (letters, digits, -)", at: keyNode)
                continue
            }
            let headerPath = "\(path).\(name)"
            if case .mapping = valueNode {
                guard let source = reader.fields(valueNode, at: headerPath, allowed: ConfigKeys.secretSource) else { continue }
                if let file = source.optional("file", reader.path) {
                    result.append(HeaderSpec(name: name, value: .file(file)))
                } else if let variable = source.optional("env", reader.nonEmptyString) {
                    result.append(HeaderSpec(name: name, value: .environment(variable)))
                } else {
                    reader.report(headerPath, "names no source; write {file: PATH} or {env: VARIABLE}", at: valueNode)
                }
            } else if let value = reader.string(valueNode, at: headerPath) {
                guard !Self.secretHeaders.contains(name.lowercased()) else {
                    reader.report(headerPath, "holds a credential; keep it out of the config and write {file: PATH} or {env: VARIABLE}", at: valueNode)
                    continue
                }
                result.append(HeaderSpec(name: name, value: .literal(value)))
            }
        }
        return result
    }

    /// `queue: {redis, key}`, `{sqlite, query}` or `{spool, warn_age, crit_age}`.
    func queueKind(_ entry: CheckEntry) -> CheckKind? {
        let (node, path) = (entry.node, entry.path)
        guard let fields = reader.fields(node, at: path, allowed: ConfigKeys.queue) else { return nil }
        let sources = ["redis", "sqlite", "spool"].filter { fields[$0] != nil }
        guard sources.count == 1 else {
            reader.report(path, sources.isEmpty ? "names no queue; add one of: redis, sqlite, spool" : "names \(sources.joined(separator: " and ")); use one queue per check", at: node)
            return nil
        }
        if sources[0] != "spool" {
            for key in ["warn_age", "crit_age"] where fields[key] != nil {
                reader.report(fields.keyPath(key), "only applies to spool queues, whose files carry their age", at: fields[key])
            }
        }
        switch sources[0] {
        case "redis":
            guard let url = fields.optional("redis", reader.nonEmptyString),
                  let key = fields.required("key").flatMap({ reader.nonEmptyString($0, at: fields.keyPath("key")) }) else { return nil }
            guard url.hasPrefix("redis://") || url.hasPrefix("unix://") else {
                reader.report(fields.keyPath("redis"), "\(NodeReader.quote(url)) is not a redis:// or unix:// address", at: fields["redis"])
                return nil
            }
            if Self.hasPassword(url) {
                reader.report(fields.keyPath("redis"), "contains a password; opsd's queue check speaks to a local Redis without AUTH", at: fields["redis"])
                return nil
            }
            return .queue(.redis(url: url, key: key))
        case "sqlite":
            guard let database = fields.optional("sqlite", reader.path),
                  let query = fields.required("query").flatMap({ reader.nonEmptyString($0, at: fields.keyPath("query")) }) else { return nil }
            return .queue(.sqlite(path: database, query: query))
        default:
            guard let directory = fields.optional("spool", reader.path) else { return nil }
            return .queue(.spool(
                directory: directory, warnAge: fields.optional("warn_age", reader.duration), critAge: fields.optional("crit_age", reader.duration)
            ))
        }
    }

    /// True for `scheme://user:password@host…`.
    static func hasPassword(_ url: String) -> Bool {
        guard let scheme = url.firstRange(of: "://") else { return false }
        let rest = url[scheme.upperBound...]
        let authority = rest[..<(rest.firstIndex(of: "/") ?? rest.endIndex)]
        guard let at = authority.lastIndex(of: "@") else { return false }
        return authority[..<at].contains(":")
    }
}
