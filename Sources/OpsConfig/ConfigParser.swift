import Foundation
import Yams

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
        if let node = top["workers"] { config.workers = uniqueNames(list(node, at: "workers", worker), kind: "worker") }
        if let node = top["checks"] { config.checks = uniqueNames(list(node, at: "checks", check), kind: "check") }
        if let node = top["jobs"] { config.jobs = uniqueNames(list(node, at: "jobs", job), kind: "job") }
        if let node = top["backup"] { config.backup = backup(node, at: "backup") }
        if let node = top["alerts"] { config.alerts = list(node, at: "alerts", alert) }
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
            // sockaddr_un holds 108 bytes including the terminating NUL.
            if socket.utf8.count > 107 {
                reader.report(fields.keyPath("socket"), "is \(socket.utf8.count) bytes long, but unix socket paths are limited to 107 bytes; choose a shorter path", at: fields["socket"])
            }
        }
        if let directory = fields.optional("state_dir", reader.path) { settings.stateDirectory = directory }
        if let listen = fields.optional("listen", listenAddress) { settings.listen = listen }
        if let level = fields.optional("log_level", { reader.choice($0, at: $1, as: LogLevelName.self) }) { settings.logLevel = level }
        return settings
    }

    private func listenAddress(_ node: Node, at path: String) -> ListenAddress? {
        guard let text = reader.string(node, at: path) else { return nil }
        guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]), (1...65535).contains(port) else {
            reader.report(path, "\(NodeReader.quote(text)) is not a host:port address; write e.g. 127.0.0.1:9110", at: node)
            return nil
        }
        var host = String(text[..<colon])
        if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        guard !host.isEmpty else {
            reader.report(path, "\(NodeReader.quote(text)) names no host; write e.g. 127.0.0.1:\(port)", at: node)
            return nil
        }
        return ListenAddress(host: host, port: port)
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

    private static let checkKinds = ["disk", "memory", "sqlite", "queue", "http", "command"]
    private static let checkKeys = ["name"] + checkKinds + ["warn", "crit", "every", "timeout", "expect"]

    private func check(_ node: Node, at path: String) -> CheckSpec? {
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
        let every = fields.optional("every", reader.duration)
        let timeout = fields.optional("timeout", reader.duration)
        guard let name, let kind else { return nil }
        return CheckSpec(name: name, kind: kind, warn: warn, crit: crit, every: every ?? .seconds(60), timeout: timeout ?? .seconds(10))
    }

    private func checkKind(_ key: String, _ fields: Fields) -> CheckKind? {
        let path = fields.keyPath(key)
        let node = fields.values[key] ?? fields.node
        switch key {
        case "disk":
            return reader.paths(node, at: path, allowSingle: true).map { .disk(paths: $0) }
        case "memory":
            // `memory: {}` today; options (swap, cgroup) will live in this mapping.
            return reader.fields(node, at: path, allowed: []).map { _ in .memory }
        case "sqlite":
            return reader.path(node, at: path).map { .sqlite(path: $0) }
        case "queue":
            return queueSource(node, at: path)
        case "http":
            guard let url = reader.nonEmptyString(node, at: path) else { return nil }
            guard url.hasPrefix("http://") || url.hasPrefix("https://") else {
                reader.report(path, "\(NodeReader.quote(url)) is not an http:// or https:// URL", at: node)
                return nil
            }
            var statuses = [200]
            if let expect = fields["expect"], let expectFields = reader.fields(expect, at: fields.keyPath("expect"), allowed: ["status"]),
               let statusNode = expectFields["status"] {
                let statusPath = expectFields.keyPath("status")
                if case .sequence = statusNode {
                    statuses = reader.items(statusNode, at: statusPath)?.compactMap { reader.integer($0.node, at: $0.path, in: 100...599) } ?? statuses
                } else if let status = reader.integer(statusNode, at: statusPath, in: 100...599) {
                    statuses = [status]
                }
            }
            return .http(url: url, expectStatus: statuses)
        case "command":
            return command(node, at: path).map { .command($0) }
        default:
            return nil
        }
    }

    private func queueSource(_ node: Node, at path: String) -> CheckKind? {
        guard let fields = reader.fields(node, at: path, allowed: ["redis", "key", "sqlite", "query", "spool"]) else { return nil }
        let sources = ["redis", "sqlite", "spool"].filter { fields[$0] != nil }
        guard sources.count == 1 else {
            reader.report(path, sources.isEmpty ? "names no queue; add one of: redis, sqlite, spool" : "names \(sources.joined(separator: " and ")); use one queue per check", at: node)
            return nil
        }
        switch sources[0] {
        case "redis":
            guard let url = fields.optional("redis", reader.nonEmptyString),
                  let key = fields.required("key").flatMap({ reader.nonEmptyString($0, at: fields.keyPath("key")) }) else { return nil }
            guard url.hasPrefix("redis://") || url.hasPrefix("unix://") else {
                reader.report(fields.keyPath("redis"), "\(NodeReader.quote(url)) is not a redis:// or unix:// address", at: fields["redis"])
                return nil
            }
            return .queue(.redis(url: url, key: key))
        case "sqlite":
            guard let database = fields.optional("sqlite", reader.path),
                  let query = fields.required("query").flatMap({ reader.nonEmptyString($0, at: fields.keyPath("query")) }) else { return nil }
            return .queue(.sqlite(path: database, query: query))
        default:
            return fields.optional("spool", reader.path).map { .queue(.spool(directory: $0)) }
        }
    }

    // MARK: backup

    private func backup(_ node: Node, at path: String) -> BackupSpec? {
        let keys = ["repository", "remote", "databases", "files", "exclude", "schedule", "timezone"]
        guard let fields = reader.fields(node, at: path, allowed: keys) else { return nil }
        let repository = fields.required("repository").flatMap { reader.path($0, at: fields.keyPath("repository")) }
        var spec = BackupSpec(repository: repository ?? "")
        spec.remote = fields.optional("remote", remote)
        spec.databases = fields.optional("databases") { reader.paths($0, at: $1) } ?? []
        spec.files = fields.optional("files") { reader.paths($0, at: $1) } ?? []
        spec.exclude = fields.optional("exclude") { reader.strings($0, at: $1) } ?? []
        let zone = fields.optional("timezone", zoneNamed)
        spec.timezone = zone?.identifier
        if let node = fields["schedule"], trigger(node, at: fields.keyPath("schedule"), zone: zone ?? TimeZone(identifier: "UTC") ?? .current) != nil {
            spec.schedule = reader.string(node, at: fields.keyPath("schedule"))
        }
        return repository == nil ? nil : spec
    }

    private func remote(_ node: Node, at path: String) -> RemoteSpec? {
        guard let fields = reader.fields(node, at: path, allowed: ["url", "branch", "ssh_key", "known_hosts", "token_file"]) else { return nil }
        guard let urlNode = fields.required("url"), var url = reader.nonEmptyString(urlNode, at: fields.keyPath("url")) else { return nil }
        if let scheme = url.range(of: "://"), let at = url[scheme.upperBound...].firstIndex(of: "@"),
           url[scheme.upperBound..<at].contains(":") {
            // Never keep a password where it could reach a log line or a commit message.
            reader.report(fields.keyPath("url"), "contains a password; remove it from the URL and put the token in a file named by token_file", at: urlNode)
            return nil
        }
        if Self.isLocalPath(url) { url = reader.resolve(url) }
        var spec = RemoteSpec(url: url)
        if let branch = fields.optional("branch", reader.nonEmptyString) { spec.branch = branch }
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
        guard let fields = reader.fields(node, at: path, allowed: ["webhook", "exec", "on"]) else { return nil }
        var target: AlertSpec.Target?
        switch (fields["webhook"], fields["exec"]) {
        case (let webhook?, nil):
            if let url = reader.nonEmptyString(webhook, at: fields.keyPath("webhook")) {
                if url.hasPrefix("http://") || url.hasPrefix("https://") {
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
        return target.map { AlertSpec(target: $0, on: events) }
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

    /// Drops and reports entries whose name was already used: names are how operators address them.
    func uniqueNames<T>(_ items: [T], kind: String) -> [T] where T: Named {
        var seen = Set<String>()
        return items.filter { item in
            guard seen.insert(item.name).inserted else {
                reader.report("", "two \(kind)s are named \(NodeReader.quote(item.name)); names must be unique", at: nil)
                return false
            }
            return true
        }
    }
}

protocol Named { var name: String { get } }
extension WorkerSpec: Named {}
extension CheckSpec: Named {}
