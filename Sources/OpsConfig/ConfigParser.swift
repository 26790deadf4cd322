import FoundationEssentials
import Glibc

/// Turns the YAML tree of one config file into a `Configuration`, section by section.
///
/// Parsing never stops early: a section with problems contributes what it could read (so callers
/// such as `opsctl` can still find the control socket), and every problem lands in the reader's
/// diagnostics.
struct ConfigParser {
    let reader: NodeReader

    static let topLevelKeys = ["daemon", "workers", "checks", "jobs", "backup", "alerts"]

    func configuration(from root: Node) -> Configuration {
        var config = Configuration()
        guard case .mapping = root else {
            reader.report("", "the top level must be a mapping with the sections \(Self.topLevelKeys.joined(separator: ", ")), found \(NodeReader.describe(root))", at: root)
            return config
        }
        guard let top = reader.fields(root, at: "", allowed: Self.topLevelKeys) else { return config }
        if let node = top["daemon"] { config.daemon = daemon(node, at: "daemon") }
        if let node = top["workers"] { config.workers = uniqueList(node, at: "workers", worker) }
        if let node = top["checks"] {
            let workers = Set(config.workers.map(\.name))
            config.checks = uniqueList(node, at: "checks") { check($0, at: $1, workers: workers) }
        }
        if let node = top["jobs"] { config.jobs = uniqueList(node, at: "jobs", job) }
        if let node = top["backup"] { config.backup = backup(node, at: "backup") }
        if let node = top["alerts"] { config.alerts = list(node, at: "alerts", alert) }
        for index in config.checks.indices {
            guard case .backup(var spec) = config.checks[index].kind else { continue }
            guard let backup = config.backup else {
                reader.report("checks[\(index)].backup", "checks the backups of the backup: section, but there is none; add a backup: section", at: top["checks"])
                continue
            }
            spec.stateDirectory = config.daemon.stateDirectory
            spec.remoteConfigured = backup.remote != nil
            config.checks[index].kind = .backup(spec)
        }
        if let backup = config.backup {
            let known = Set(config.workers.map(\.name))
            for (database, names) in backup.databaseWorkers.sorted(by: { $0.key < $1.key }) {
                for name in names where !known.contains(name) {
                    reader.report("backup.databases", "\(NodeReader.quote(name)) (for \(database)) is not a worker under workers:; name one of them", at: top["backup"])
                }
            }
        }
        if config.backup == nil, let index = config.jobs.firstIndex(where: { $0.action == .backup }) {
            reader.report("jobs[\(index)].backup", "takes a backup as the backup: section describes, but there is none; add a backup: section", at: top["jobs"])
        }
        return config
    }

    // MARK: daemon

    private func daemon(_ node: Node, at path: String) -> DaemonSettings {
        var settings = DaemonSettings()
        guard let fields = reader.fields(node, at: path, allowed: ["socket", "state_dir", "listen", "log_level"]) else { return settings }
        if let socket = fields.optional("socket", reader.path) {
            settings.socket = socket
            socketLength(settings, at: fields.keyPath("socket"), node: fields["socket"])
        }
        if let directory = fields.optional("state_dir", reader.path) { settings.stateDirectory = directory }
        if let listen = fields.optional("listen", listenAddress) { settings.listen = listen }
        if let level = fields.optional("log_level", { reader.choice($0, at: $1, as: LogLevelName.self) }) { settings.logLevel = level }
        return settings
    }

    /// Paths opsd cannot bind are refused here, so that opsd exits 78 (configuration) instead of
    /// failing later at bind with 1.
    private func socketLength(_ settings: DaemonSettings, at path: String, node: Node?) {
        let length = settings.socket.utf8.count
        if length > DaemonSettings.maximumSocketPathLength {
            reader.report(path, "is \(length) bytes long, but opsd can bind unix socket paths of at most \(DaemonSettings.maximumSocketPathLength) bytes; choose a shorter path", at: node)
        }
    }

    /// `host:port` where host is an IP address (IPv6 in brackets) or `localhost`: what opsd can
    /// bind without a name lookup that might fail at start.
    private func listenAddress(_ node: Node, at path: String) -> ListenAddress? {
        guard let text = reader.string(node, at: path) else { return nil }
        let example = "write e.g. 127.0.0.1:9110, [::1]:9110 or 0.0.0.0:9110 (every interface)"
        guard let colon = text.lastIndex(of: ":"), let port = UInt16(text[text.index(after: colon)...]), port > 0 else {
            reader.report(path, "\(NodeReader.quote(text)) is not a host:port address with a port from 1 to 65535; \(example)", at: node)
            return nil
        }
        let written = String(text[..<colon])
        let bracketed = written.hasPrefix("[") && written.hasSuffix("]")
        let host = bracketed ? String(written.dropFirst().dropLast()) : written
        guard host == "localhost" || (!bracketed && Self.isAddress(host, family: AF_INET)) || (bracketed && Self.isAddress(host, family: AF_INET6)) else {
            let hint = Self.isAddress(written, family: AF_INET6) ? "an IPv6 address goes in brackets, e.g. [::1]:\(port)" : example
            reader.report(path, "\(NodeReader.quote(written)) is not an IP address opsd can listen on; \(hint)", at: node)
            return nil
        }
        return ListenAddress(host: host, port: Int(port))
    }

    private static func isAddress(_ text: String, family: Int32) -> Bool {
        var buffer = [UInt8](repeating: 0, count: 16)
        return inet_pton(family, text, &buffer) == 1
    }

    // MARK: workers

    private static let workerKeys = [
        "name", "command", "cwd", "environment", "user", "group", "umask", "restart", "stop", "notify", "watchdog", "start_timeout",
    ]

    private func worker(_ node: Node, at path: String) -> WorkerSpec? {
        guard let fields = reader.fields(node, at: path, allowed: Self.workerKeys) else { return nil }
        let name = fields.required("name").flatMap { self.name($0, at: fields.keyPath("name")) }
        let command = fields.required("command").flatMap { self.command($0, at: fields.keyPath("command")) }
        var spec = WorkerSpec(name: name ?? "", command: command ?? [])
        spec.workingDirectory = fields.optional("cwd", reader.path)
        spec.environment = fields.optional("environment", environment) ?? [:]
        spec.user = fields.optional("user", reader.nonEmptyString)
        spec.group = fields.optional("group", reader.nonEmptyString)
        spec.umask = fields.optional("umask", umask)
        if let node = fields["restart"] { spec.restart = restartPolicy(node, at: fields.keyPath("restart")) }
        if let node = fields["stop"] { spec.stop = stopPolicy(node, at: fields.keyPath("stop")) }
        spec.notify = fields.optional("notify", reader.bool) ?? false
        spec.watchdog = fields.optional("watchdog", reader.duration)
        if spec.watchdog != nil, !spec.notify {
            reader.report(fields.keyPath("watchdog"), "needs notify: true, because the worker's pings arrive over the notify socket", at: fields["watchdog"])
        }
        if let timeout = fields.optional("start_timeout", reader.duration) { spec.startTimeout = timeout }
        return name == nil || command == nil ? nil : spec
    }

    func command(_ node: Node, at path: String) -> [String]? {
        if case .scalar = node, !NodeReader.isNull(node) {
            let text = reader.string(node, at: path) ?? ""
            let example = text.split(separator: " ").map(String.init).joined(separator: ", ")
            reader.report(path, "give the command as a list, e.g. [\(example)]; opsd runs it directly, without a shell", at: node)
            return nil
        }
        guard let words = reader.strings(node, at: path) else { return nil }
        guard !words.isEmpty else {
            reader.report(path, "must name a program to run", at: node)
            return nil
        }
        return words
    }

    func environment(_ node: Node, at path: String) -> [String: String]? {
        guard case .mapping(let mapping) = node else {
            reader.report(path, "expected a mapping of NAME: value, found \(NodeReader.describe(node))", at: node)
            return nil
        }
        var result: [String: String] = [:]
        for (keyNode, valueNode) in mapping {
            guard let key = keyNode.scalar?.string, key.first.map({ $0 == "_" || $0.isLetter }) == true,
                  key.allSatisfy({ $0 == "_" || ($0.isASCII && ($0.isLetter || $0.isNumber)) }) else {
                reader.report(path, "\(NodeReader.describe(keyNode)) is not a valid environment variable name (letters, digits, _)", at: keyNode)
                continue
            }
            // An empty value is legitimate (FOO=), so read the scalar text directly.
            guard case .scalar(let value) = valueNode else {
                reader.report("\(path).\(key)", "expected a single value, found \(NodeReader.describe(valueNode))", at: valueNode)
                continue
            }
            result[key] = NodeReader.isNull(valueNode) ? "" : value.string
        }
        return result
    }

    private func umask(_ node: Node, at path: String) -> UInt32? {
        guard let text = reader.string(node, at: path) else { return nil }
        guard let value = UInt32(text, radix: 8), value <= 0o777 else {
            reader.report(path, "\(NodeReader.quote(text)) is not an octal file mode mask; write e.g. \"0027\"", at: node)
            return nil
        }
        return value
    }

    private func restartPolicy(_ node: Node, at path: String) -> RestartPolicy {
        var policy = RestartPolicy()
        guard let fields = reader.fields(node, at: path, allowed: ["policy", "backoff", "burst", "reset_after"]) else { return policy }
        if let mode = fields.optional("policy", { reader.choice($0, at: $1, as: RestartPolicy.Mode.self) }) { policy.mode = mode }
        if let backoff = fields.optional("backoff", durationRange) { policy.backoff = backoff }
        if let burst = fields.optional("burst", burstLimit) { policy.burst = burst }
        if let reset = fields.optional("reset_after", reader.duration) { policy.resetAfter = reset }
        return policy
    }

    private func stopPolicy(_ node: Node, at path: String) -> StopPolicy {
        var policy = StopPolicy()
        guard let fields = reader.fields(node, at: path, allowed: ["signal", "timeout"]) else { return policy }
        if let node = fields["signal"], let text = reader.string(node, at: fields.keyPath("signal")) {
            var name = text.uppercased()
            if name.hasPrefix("SIG") { name.removeFirst(3) }
            if let signal = StopSignal(rawValue: name) {
                policy.signal = signal
            } else {
                reader.report(fields.keyPath("signal"), "\(NodeReader.quote(text)) is not a stop signal; use one of \(StopSignal.allCases.map(\.rawValue).joined(separator: ", "))", at: node)
            }
        }
        if let timeout = fields.optional("timeout", reader.duration) { policy.timeout = timeout }
        return policy
    }

    func durationRange(_ node: Node, at path: String) -> DurationRange? {
        guard let text = reader.string(node, at: path) else { return nil }
        guard let range = DurationRange.parse(text) else {
            reader.report(path, "\(NodeReader.quote(text)) is not a delay range; write e.g. 1s..60s (the first delay, then the largest)", at: node)
            return nil
        }
        return range
    }

    private func burstLimit(_ node: Node, at path: String) -> BurstLimit? {
        guard let text = reader.string(node, at: path) else { return nil }
        guard let burst = BurstLimit.parse(text) else {
            reader.report(path, "\(NodeReader.quote(text)) is not a burst limit; write e.g. \"5 in 60s\" (at most 5 starts within 60 seconds)", at: node)
            return nil
        }
        return burst
    }

    // MARK: checks

    private static let checkKinds = ["disk", "memory", "sqlite", "queue", "http", "command", "backup"]
    private static let checkKeys = ["name"] + checkKinds + [
        "warn", "crit", "every", "timeout", "expect", "fail_after", "recover_after", "restart",
    ]

    private func check(_ node: Node, at path: String, workers: Set<String>) -> CheckSpec? {
        guard let fields = reader.fields(node, at: path, allowed: Self.checkKeys) else { return nil }
        let name = fields.required("name").flatMap { self.name($0, at: fields.keyPath("name")) }
        let kinds = Self.checkKinds.filter { fields.values[$0] != nil }
        var kind: CheckKind?
        switch kinds.count {
        case 0:
            reader.report(path, "says nothing to check; add one of: \(Self.checkKinds.joined(separator: ", "))", at: node)
        case 1:
            kind = checkKind(kinds[0], fields)
        default:
            reader.report(path, "has \(kinds.joined(separator: " and ")); a check measures one thing, so split it into \(kinds.count) checks", at: node)
        }
        if fields["expect"] != nil, kinds != ["http"] {
            reader.report(fields.keyPath("expect"), "only applies to http checks", at: fields["expect"])
        }
        let warn = fields.optional("warn", reader.threshold)
        let crit = fields.optional("crit", reader.threshold)
        if let kind, !kind.measuresPercent {
            for (key, threshold) in [("warn", warn), ("crit", crit)] where threshold?.isPercent == true {
                reader.report(fields.keyPath(key), "is a percentage, but a \(kind.key) check measures \(Self.unitWords(kind)); write a plain number or range", at: fields[key])
            }
        }
        var spec = CheckSpec(name: name ?? "", kind: kind ?? .memory, warn: warn, crit: crit)
        if let every = fields.optional("every", { reader.interval($0, at: $1, atLeast: CheckSpec.minimumEvery) }) { spec.every = every }
        if let timeout = fields.optional("timeout", reader.duration) { spec.timeout = timeout }
        if let count = fields.optional("fail_after", { reader.integer($0, at: $1, in: 1...100) }) { spec.failAfter = count }
        if let count = fields.optional("recover_after", { reader.integer($0, at: $1, in: 1...100) }) { spec.recoverAfter = count }
        spec.restart = fields.optional("restart") { checkRestart($0, at: $1, workers: workers) }
        guard name != nil, kind != nil else { return nil }
        return spec
    }

    private static func unitWords(_ kind: CheckKind) -> String {
        switch kind {
        case .queue: "a count of items"
        case .http: "a latency in milliseconds"
        case .sqlite: "a latency in milliseconds (or the number its query returns)"
        default: "a plugin's first performance value"
        }
    }

    private func checkRestart(_ node: Node, at path: String, workers: Set<String>) -> CheckRestart? {
        guard let fields = reader.fields(node, at: path, allowed: ["worker", "after"]) else { return nil }
        guard let workerNode = fields.required("worker"), let worker = reader.nonEmptyString(workerNode, at: fields.keyPath("worker")) else { return nil }
        guard workers.contains(worker) else {
            let known = workers.isEmpty ? "none is declared" : "declared: \(workers.sorted().joined(separator: ", "))"
            reader.report(fields.keyPath("worker"), "\(NodeReader.quote(worker)) is not a worker under workers: (\(known)); name one of them", at: workerNode)
            return nil
        }
        let after = fields.optional("after") { reader.integer($0, at: $1, in: 1...100) } ?? 3
        return CheckRestart(worker: worker, after: after)
    }

    private func checkKind(_ key: String, _ fields: Fields) -> CheckKind? {
        let path = fields.keyPath(key)
        let node = fields.values[key] ?? fields.node
        switch key {
        case "disk":
            return reader.paths(node, at: path, allowSingle: true).map { .disk(paths: $0) }
        case "memory":
            // `memory: {}`: it measures the host and, inside a cgroup with a limit, the cgroup.
            return reader.fields(node, at: path, allowed: []).map { _ in .memory }
        case "sqlite":
            if case .mapping = node {
                guard let sqlite = reader.fields(node, at: path, allowed: ["path", "query"]),
                      let file = sqlite.required("path").flatMap({ reader.path($0, at: sqlite.keyPath("path")) }) else { return nil }
                return .sqlite(SQLiteCheckSpec(path: file, query: sqlite.optional("query", reader.nonEmptyString)))
            }
            return reader.path(node, at: path).map { .sqlite(SQLiteCheckSpec(path: $0)) }
        case "queue":
            return queueSource(node, at: path)
        case "http":
            return http(node, at: path, expect: fields["expect"], expectPath: fields.keyPath("expect"))
        case "command":
            return command(node, at: path).map { .command($0) }
        case "backup":
            // The state directory and the remote are filled in once the whole file is read.
            guard let options = reader.fields(node, at: path, allowed: ["max_age"]) else { return nil }
            let maxAge = options.optional("max_age", reader.duration) ?? .seconds(26 * 3600)
            return .backup(BackupCheckSpec(maxAge: maxAge, stateDirectory: "", remoteConfigured: false))
        default:
            return nil
        }
    }

    private func http(_ node: Node, at path: String, expect: Node?, expectPath: String) -> CheckKind? {
        var spec: HTTPCheckSpec
        if case .mapping = node {
            guard let options = reader.fields(node, at: path, allowed: ["url", "method", "headers", "redirects", "ca_file", "certificate"]),
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
               let days = reader.fields(certificate, at: options.keyPath("certificate"), allowed: ["warn_days", "crit_days"]) {
                spec.certificateWarnDays = days.optional("warn_days") { reader.integer($0, at: $1, in: 0...3650) }
                spec.certificateCritDays = days.optional("crit_days") { reader.integer($0, at: $1, in: 0...3650) }
            }
        } else {
            guard let url = httpURL(node, at: path) else { return nil }
            spec = HTTPCheckSpec(url: url)
        }
        guard let expect, let fields = reader.fields(expect, at: expectPath, allowed: ["status", "body_contains", "body_matches", "json"]) else {
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
        if let json = fields["json"], let jsonFields = reader.fields(json, at: fields.keyPath("json"), allowed: ["path", "equals"]),
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
                guard let source = reader.fields(valueNode, at: headerPath, allowed: ["file", "env"]) else { continue }
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

    private func queueSource(_ node: Node, at path: String) -> CheckKind? {
        guard let fields = reader.fields(node, at: path, allowed: ["redis", "key", "sqlite", "query", "spool", "warn_age", "crit_age"]) else { return nil }
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

    // MARK: backup

    private func backup(_ node: Node, at path: String) -> BackupSpec? {
        let keys = ["repository", "remote", "databases", "files", "exclude", "schedule", "timezone"]
        guard let fields = reader.fields(node, at: path, allowed: keys) else { return nil }
        let repository = fields.required("repository").flatMap { reader.path($0, at: fields.keyPath("repository")) }
        var spec = BackupSpec(repository: repository ?? "")
        spec.remote = fields.optional("remote", remote)
        if let node = fields["databases"] { (spec.databases, spec.databaseWorkers) = backupDatabases(node, at: fields.keyPath("databases")) }
        spec.files = fields.optional("files") { reader.paths($0, at: $1) } ?? []
        spec.exclude = fields.optional("exclude") { reader.strings($0, at: $1) } ?? []
        let zone = fields.optional("timezone", zoneNamed)
        spec.timezone = zone?.identifier
        if let node = fields["schedule"], trigger(node, at: fields.keyPath("schedule"), zone: zone ?? .utc) != nil {
            spec.schedule = reader.string(node, at: fields.keyPath("schedule"))
        }
        return repository == nil ? nil : spec
    }

    /// `databases: [PATH, {path: PATH, workers: [NAME…]}]`: the workers are stopped while a
    /// restore replaces that database.
    private func backupDatabases(_ node: Node, at path: String) -> ([String], [String: [String]]) {
        var paths: [String] = []
        var workers: [String: [String]] = [:]
        var stored: [String: String] = [:]
        for item in reader.items(node, at: path) ?? [] {
            let file: String
            var itemPath = item.path
            var fileNode = item.node
            if case .mapping = item.node {
                guard let entry = reader.fields(item.node, at: item.path, allowed: ["path", "workers"]),
                      let entryPath = entry.required("path").flatMap({ reader.path($0, at: entry.keyPath("path")) }) else { continue }
                file = entryPath
                (itemPath, fileNode) = (entry.keyPath("path"), entry["path"] ?? item.node)
                if let names = entry.optional("workers", { reader.strings($0, at: $1, allowSingle: true) }) { workers[file] = names }
            } else {
                guard let plain = reader.path(item.node, at: item.path) else { continue }
                file = plain
            }
            let name = BackupSpec.repositoryName(ofDatabase: file)
            if let other = stored[name] {
                guard other != file else {
                    reader.report(itemPath, "\(file) is listed twice; keep one", at: fileNode)
                    continue
                }
                reader.report(itemPath, "\(file) would be stored as \"\(name)\" in the backup, like \(other); rename one of the files (the name is the file name without its extension)", at: fileNode)
                continue
            }
            stored[name] = file
            paths.append(file)
        }
        return (paths, workers)
    }

    private func remote(_ node: Node, at path: String) -> RemoteSpec? {
        guard let fields = reader.fields(node, at: path, allowed: ["url", "branch", "ssh_key", "known_hosts", "token_file"]) else { return nil }
        guard let urlNode = fields.required("url"), var url = reader.nonEmptyString(urlNode, at: fields.keyPath("url")) else { return nil }
        if Self.hasPassword(url) {
            // Never keep a password where it could reach a log line or a commit message.
            reader.report(fields.keyPath("url"), "contains a password; remove it from the URL and put the token in a file named by token_file", at: urlNode)
            return nil
        }
        if Self.isLocalPath(url) { url = reader.resolve(url) }
        var spec = RemoteSpec(url: url)
        if let branch = fields.optional("branch", reader.nonEmptyString) {
            if let problem = RemoteSpec.branchProblem(branch) {
                reader.report(fields.keyPath("branch"), "\(NodeReader.quote(branch)) \(problem); use letters, digits, \"-\", \"_\", \"/\" and {hostname}", at: fields["branch"])
            } else {
                spec.branch = branch
            }
        }
        spec.sshKey = fields.optional("ssh_key", reader.path)
        spec.knownHosts = fields.optional("known_hosts", reader.path)
        spec.tokenFile = fields.optional("token_file", reader.path)
        return spec
    }

    /// True for a filesystem path; false for `scheme://…` and scp-like `user@host:path`.
    static func isLocalPath(_ url: String) -> Bool {
        if url.contains("://") { return false }
        guard let colon = url.firstIndex(of: ":") else { return true }
        return url[..<colon].contains("/")
    }

    // MARK: alerts

    private func alert(_ node: Node, at path: String) -> AlertSpec? {
        guard let fields = reader.fields(node, at: path, allowed: ["webhook", "exec", "on", "limit"]) else { return nil }
        var target: AlertSpec.Target?
        switch (fields["webhook"], fields["exec"]) {
        case (let webhook?, nil):
            if let url = reader.nonEmptyString(webhook, at: fields.keyPath("webhook")) {
                if Self.hasPassword(url) {
                    reader.report(fields.keyPath("webhook"), "contains a password; webhook URLs carry their secret in the path, not as user:password", at: webhook)
                } else if url.hasPrefix("http://") || url.hasPrefix("https://") {
                    target = .webhook(url: url)
                } else {
                    reader.report(fields.keyPath("webhook"), "\(NodeReader.quote(url)) is not an http:// or https:// URL", at: webhook)
                }
            }
        case (nil, let exec?):
            target = command(exec, at: fields.keyPath("exec")).map { .exec($0) }
        case (nil, nil):
            reader.report(path, "says nowhere to send alerts; add webhook: URL or exec: [command, args]", at: node)
        default:
            reader.report(path, "has both webhook and exec; use one alert entry for each", at: node)
        }
        var events = AlertSpec.Event.allCases
        if let onNode = fields["on"], let items = reader.items(onNode, at: fields.keyPath("on")) {
            events = items.compactMap { reader.choice($0.node, at: $0.path, as: AlertSpec.Event.self) }
        }
        let limit = fields.optional("limit", burstLimit) ?? AlertSpec(target: .exec([])).limit
        return target.map { AlertSpec(target: $0, on: events, limit: limit) }
    }

    // MARK: shared

    func name(_ node: Node, at path: String) -> String? {
        guard let text = reader.nonEmptyString(node, at: path) else { return nil }
        let allowed = text.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || "_.-".contains($0)) }
        guard allowed, text.count <= 64, text.first?.isLetter == true || text.first?.isNumber == true else {
            reader.report(path, "\(NodeReader.quote(text)) is not a valid name; use letters, digits, \"_\", \".\" and \"-\", starting with a letter or digit", at: node)
            return nil
        }
        return text
    }

    func list<T>(_ node: Node, at path: String, _ read: (Node, String) -> T?) -> [T] {
        reader.items(node, at: path)?.compactMap { read($0.node, $0.path) } ?? []
    }

    /// `list`, dropping and reporting (at the repeated `name:`) entries whose name was already
    /// used: names are how operators address them.
    func uniqueList<T: Named>(_ node: Node, at path: String, _ read: (Node, String) -> T?) -> [T] {
        var first: [String: String] = [:]
        var result: [T] = []
        for item in reader.items(node, at: path) ?? [] {
            guard let value = read(item.node, item.path) else { continue }
            if let earlier = first[value.name] {
                let nameNode = Self.value(of: "name", in: item.node) ?? item.node
                reader.report("\(item.path).name", "\(NodeReader.quote(value.name)) is already the name of \(earlier); names must be unique", at: nameNode)
                continue
            }
            first[value.name] = item.path
            result.append(value)
        }
        return result
    }

    /// The value under `key` in a mapping node.
    static func value(of key: String, in node: Node) -> Node? {
        guard case .mapping(let mapping) = node else { return nil }
        return mapping.first { $0.0.scalar?.string == key }?.1
    }
}

protocol Named { var name: String { get } }
extension WorkerSpec: Named {}
extension CheckSpec: Named {}
