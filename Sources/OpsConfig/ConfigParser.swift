import FileSafety
import FoundationEssentials
import Glibc

/// Turns the YAML tree of one config file into a `Configuration`, section by section.
///
/// Parsing never stops early: a section with problems contributes what it could read (so callers
/// such as `opsctl` can still find the control socket), and every problem lands in the reader's
/// diagnostics.
struct ConfigParser {
    let reader: NodeReader

    static let topLevelKeys = ConfigKeys.top

    func configuration(from root: Node) -> Configuration {
        var config = Configuration()
        guard case .mapping = root else {
            reader.report("", "the top level must be a mapping with the sections \(Self.topLevelKeys.joined(separator: ", ")), found \(NodeReader.describe(root))", at: root)
            return config
        }
        guard let top = reader.fields(root, at: "", allowed: ConfigKeys.top) else { return config }
        // `daemon:` and `backup:` come first: a check of the backups takes its state directory
        // and remote from them, as it is read.
        if let node = top["daemon"] { config.daemon = daemon(node, at: "daemon") }
        if let node = top["workers"] {
            config.workers = uniqueList(node, at: "workers", worker)
            checkStartOrder(config.workers, node: node)
        }
        if let node = top["backup"] { config.backup = backup(node, at: "backup") }
        if let node = top["checks"] {
            let context = CheckContext(
                workers: Set(config.workers.map(\.name)), daemon: config.daemon, backup: config.backup, backupDeclared: top["backup"] != nil)
            config.checks = uniqueList(node, at: "checks") { check($0, at: $1, context: context) }
        }
        if let node = top["jobs"] {
            let backupDeclared = top["backup"] != nil
            config.jobs = uniqueList(node, at: "jobs") { job($0, at: $1, backupDeclared: backupDeclared) }
        }
        if let node = top["alerts"] {
            let names = AlertNames(checks: config.checks.map(\.name), workers: config.workers.map(\.name), jobs: config.jobs.map(\.name))
            config.alerts = uniqueList(node, at: "alerts") { alert($0, at: $1, names: names) }
        }
        if let backup = config.backup {
            let known = Set(config.workers.map(\.name))
            for (database, names) in backup.databaseWorkers.sorted(by: { $0.key < $1.key }) {
                for name in names where !known.contains(name) {
                    reader.report("backup.databases", "\(NodeReader.quote(name)) (for \(database)) is not a worker under workers:; name one of them", at: top["backup"])
                }
            }
        }
        return config
    }

    // MARK: daemon

    private func daemon(_ node: Node, at path: String) -> DaemonSettings {
        var settings = DaemonSettings()
        guard let fields = reader.fields(node, at: path, allowed: ConfigKeys.daemon) else { return settings }
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

    private func worker(_ node: Node, at path: String) -> WorkerSpec? {
        guard let fields = reader.fields(node, at: path, allowed: ConfigKeys.worker) else { return nil }
        let name = fields.required("name").flatMap { self.name($0, at: fields.keyPath("name")) }
        let command = fields.required("command").flatMap { self.command($0, at: fields.keyPath("command")) }
        var spec = WorkerSpec(name: name ?? "", command: command ?? [])
        spec.workingDirectory = fields.optional("cwd", reader.path)
        spec.environment = fields.optional("environment", workerEnvironment) ?? [:]
        spec.environmentReferences = Self.environmentReferences(fields["environment"], reader: reader)
        spec.environmentFiles = fields.optional("environment_file", environmentFiles) ?? []
        spec.environment.merge(fileEnvironment(spec.environmentFiles, at: fields.keyPath("environment_file"), node: fields["environment_file"])) { $1 }
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
        if let limits = fields.optional("limits", limits) { spec.limits = limits }
        spec.after = fields.optional("after") { reader.items($0, at: $1)?.compactMap { reader.nonEmptyString($0.node, at: $0.path) } } ?? []
        if let timeout = fields.optional("after_timeout", reader.duration) { spec.afterTimeout = timeout }
        spec.maxLifetime = fields.optional("max_lifetime") { reader.interval($0, at: $1, atLeast: .seconds(1)) }
        spec.maxLifetimeJitter = fields.optional("max_lifetime_jitter", reader.durationOrZero)
        if spec.maxLifetimeJitter != nil, spec.maxLifetime == nil {
            reader.report(fields.keyPath("max_lifetime_jitter"), "needs max_lifetime:, the age it is added to", at: fields["max_lifetime_jitter"])
        }
        return name == nil || command == nil ? nil : spec
    }

    func command(_ node: Node, at path: String) -> [String]? {
        if case .scalar = node, !NodeReader.isNull(node) {
            let text = reader.string(node, at: path) ?? ""
            let example = text.split(separator: " ").map(String.init).joined(separator: ", ")
            reader.report(path, "give the command as a list, e.g. [\(example)]; opsd runs it directly, without a shell", at: node)
            return nil
        }
        guard let items = reader.items(node, at: path) else { return nil }
        guard let program = items.first else {
            reader.report(path, "must name a program to run", at: node)
            return nil
        }
        // Only the program must be named; an argument may be empty, as in
        // `[redis-server, --save, ""]`, which is how Redis turns snapshots off.
        let words = [reader.nonEmptyString(program.node, at: program.path)] + items.dropFirst().map { reader.string($0.node, at: $0.path) }
        let present = words.compactMap { $0 }
        return present.count == words.count ? present : nil
    }

    func environment(_ node: Node, at path: String) -> [String: String]? {
        environment(node, at: path, variables: false)
    }

    /// A worker's `environment:`, which may also take `{env: NAME}` values (read at its start).
    func workerEnvironment(_ node: Node, at path: String) -> [String: String]? {
        environment(node, at: path, variables: true)
    }

    private func environment(_ node: Node, at path: String, variables: Bool) -> [String: String]? {
        guard case .mapping(let mapping) = node else {
            reader.report(path, "expected a mapping of NAME: value, found \(NodeReader.describe(node))", at: node)
            return nil
        }
        var result: [String: String] = [:]
        for (keyNode, valueNode) in mapping {
            guard let key = keyNode.scalar?.string, EnvironmentFile.isVariableName(key) else {
                reader.report(path, "\(NodeReader.describe(keyNode)) is not a valid environment variable name (letters, digits, _)", at: keyNode)
                continue
            }
            if case .mapping = valueNode {
                // A file is read now; opsd's variable when the worker starts (opsctl, which reads
                // this file too, does not run with opsd's environment).
                switch environmentReference(valueNode, at: "\(path).\(key)") {
                case .file(let file)?: result[key] = firstLine(of: file, at: "\(path).\(key)", node: valueNode)
                case .variable?:
                    if !variables { reader.report("\(path).\(key)", "{env: …} is for workers' environment:; write {file: PATH} here", at: valueNode) }
                case nil: break
                }
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

    /// The `{file: PATH}` and `{env: NAME}` values of an `environment:` mapping, by variable,
    /// for the secrets a configuration holds (`ConfigSecrets`); problems are reported by
    /// `environment(_:at:)`, which reads the same node.
    static func environmentReferences(_ node: Node?, reader: NodeReader) -> [String: EnvironmentReference] {
        guard case .mapping(let mapping)? = node else { return [:] }
        var result: [String: EnvironmentReference] = [:]
        for (keyNode, valueNode) in mapping {
            guard let key = keyNode.scalar?.string, case .mapping = valueNode else { continue }
            if let file = value(of: "file", in: valueNode)?.scalar?.string {
                result[key] = .file(reader.resolve(file))
            } else if let variable = value(of: "env", in: valueNode)?.scalar?.string {
                result[key] = .variable(variable)
            }
        }
        return result
    }

    /// `{file: PATH}` or `{env: NAME}`: where a secret value of `environment:` comes from.
    private func environmentReference(_ node: Node, at path: String) -> EnvironmentReference? {
        guard let source = reader.fields(node, at: path, allowed: ConfigKeys.secretSource) else { return nil }
        if let file = source.optional("file", reader.path) { return .file(file) }
        if let variable = source.optional("env", reader.nonEmptyString) { return .variable(variable) }
        reader.report(path, "names no source; write {file: PATH} or {env: VARIABLE}", at: node)
        return nil
    }

    /// A `{file: PATH}` value: the file's first line, read at load (and at each reload, which
    /// restarts the workers whose values changed), as an HTTP check's header file.
    private func firstLine(of file: String, at path: String, node: Node) -> String? {
        guard let data = contents(of: file, at: path, node: node, ifMissing: "create it or name another file") else { return nil }
        return String(decoding: data, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false).first.map(String.init) ?? ""
    }

    /// A file the configuration reads at load (`environment_file:`, `{file: …}`); nil, reported
    /// with `ifMissing` or as unreadable, when it cannot be read.
    private func contents(of file: String, at path: String, node: Node?, ifMissing: String) -> Data? {
        do throws(UntrustedPathError) {
            try TrustedFile.check(file, purpose: "the file")
        } catch {
            reader.report(path, error.description, at: node)
            return nil
        }
        if let data = try? Data(contentsOf: URL(fileURLWithPath: file)) { return data }
        let why = access(file, F_OK) == 0 ? "cannot be read; let the user opsd runs as read it" : "does not exist; \(ifMissing)"
        reader.report(path, "\(file) \(why)", at: node)
        return nil
    }

    /// `environment_file: PATH` or a list of them; `-PATH` is a file that may be missing.
    func environmentFiles(_ node: Node, at path: String) -> [EnvironmentFile]? {
        reader.strings(node, at: path, allowSingle: true)?.map { text in
            let optional = text.hasPrefix("-")
            return EnvironmentFile(path: reader.resolve(optional ? String(text.dropFirst()) : text), optional: optional)
        }
    }

    /// The variables `files` set, read now (at start and at each reload), later files winning,
    /// as systemd reads `EnvironmentFile=`. Problems name the file and its line, never a value.
    func fileEnvironment(_ files: [EnvironmentFile], at path: String, node: Node?) -> [String: String] {
        var result: [String: String] = [:]
        for file in files {
            if file.optional, access(file.path, F_OK) != 0 { continue }
            guard let data = contents(of: file.path, at: path, node: node, ifMissing: "create it, or write -\(file.path) if it may be missing") else { continue }
            let contents = EnvironmentFile.parse(String(decoding: data, as: UTF8.self))
            for problem in contents.problems {
                reader.report(path, "\(file.path) line \(problem.line) \(problem.reason)", at: node)
            }
            for (name, value) in contents.assignments { result[name] = value }
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
        guard let fields = reader.fields(node, at: path, allowed: ConfigKeys.restart) else { return policy }
        if let mode = fields.optional("policy", { reader.choice($0, at: $1, as: RestartPolicy.Mode.self) }) { policy.mode = mode }
        if let backoff = fields.optional("backoff", durationRange) { policy.backoff = backoff }
        if let burst = fields.optional("burst", burstLimit) { policy.burst = burst }
        if let reset = fields.optional("reset_after", reader.duration) { policy.resetAfter = reset }
        return policy
    }

    /// `stop: {signal, timeout}` of a worker, or of a job (whose defaults differ: `defaults`).
    func stopPolicy(_ node: Node, at path: String, defaults: StopPolicy = StopPolicy()) -> StopPolicy {
        var policy = defaults
        guard let fields = reader.fields(node, at: path, allowed: ConfigKeys.stop) else { return policy }
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

    func burstLimit(_ node: Node, at path: String) -> BurstLimit? {
        guard let text = reader.string(node, at: path) else { return nil }
        guard let burst = BurstLimit.parse(text) else {
            reader.report(path, "\(NodeReader.quote(text)) is not a burst limit; write e.g. \"5 in 60s\" (at most 5 starts within 60 seconds)", at: node)
            return nil
        }
        return burst
    }

    // MARK: backup

    private func backup(_ node: Node, at path: String) -> BackupSpec? {
        guard let fields = reader.fields(node, at: path, allowed: ConfigKeys.backup) else { return nil }
        let repository = fields.required("repository").flatMap { reader.path($0, at: fields.keyPath("repository")) }
        var spec = BackupSpec(repository: repository ?? "")
        spec.remote = fields.optional("remote", remote)
        if let node = fields["databases"] { (spec.databases, spec.databaseWorkers, spec.databaseLines) = backupDatabases(node, at: fields.keyPath("databases")) }
        spec.files = fields.optional("files") { reader.paths($0, at: $1) } ?? []
        spec.exclude = fields.optional("exclude") { reader.strings($0, at: $1) } ?? []
        let zone = fields.optional("timezone", zoneNamed)
        spec.schedule = fields.optional("schedule") { trigger($0, at: $1, zone: zone ?? .utc) }
        spec.keep = fields.optional("keep", backupKeep)
        spec.before = fields.optional("before") { node, at in reader.items(node, at: at)?.compactMap { command($0.node, at: $0.path) } } ?? []
        if let timeout = fields.optional("before_timeout", reader.duration) { spec.beforeTimeout = timeout }
        spec.encrypt = fields.optional("encrypt", backupEncrypt)
        return repository == nil ? nil : spec
    }

    /// `encrypt: {recipients: [age1…], recipients_file: PATH}`, at least one recipient between them.
    private func backupEncrypt(_ node: Node, at path: String) -> BackupEncryption? {
        guard let fields = reader.fields(node, at: path, allowed: ConfigKeys.backupEncrypt) else { return nil }
        var encryption = BackupEncryption()
        for item in fields.optional("recipients", { reader.items($0, at: $1) }) ?? [] {
            guard let text = reader.nonEmptyString(item.node, at: item.path) else { continue }
            do throws(Bech32.DecodeError) {
                _ = try Bech32.ageRecipientKey(text)
                encryption.recipients.append(text)
            } catch {
                reader.report(item.path, "is not an age recipient (age1…): \(error.description); copy the public key `age-keygen -y KEY_FILE` prints", at: item.node)
            }
        }
        encryption.recipientsFile = fields.optional("recipients_file", reader.path)
        if encryption.recipients.isEmpty, encryption.recipientsFile == nil, fields["recipients"] == nil {
            reader.report(path, "names no recipient; add recipients: [age1…] (the public key `age-keygen` prints) or recipients_file:, or remove encrypt:", at: node)
            return nil
        }
        return encryption
    }

    /// `keep: {last: N, hourly: N, daily: N, weekly: N, monthly: N, yearly: N}`, at least one above 0.
    private func backupKeep(_ node: Node, at path: String) -> BackupKeep? {
        guard let fields = reader.fields(node, at: path, allowed: ConfigKeys.backupKeep) else { return nil }
        func count(_ key: String) -> Int { fields.optional(key) { reader.integer($0, at: $1, in: 0...1_000_000) } ?? 0 }
        let keep = BackupKeep(
            last: count("last"), hourly: count("hourly"), daily: count("daily"), weekly: count("weekly"), monthly: count("monthly"), yearly: count("yearly"))
        if keep.isEmpty {
            reader.report(path, "keeps nothing; give at least one of last, hourly, daily, weekly, monthly, yearly a count above 0, or remove keep: to keep every backup", at: node)
            return nil
        }
        return keep
    }

    /// `databases: [PATH, {path: PATH, workers: [NAME…]}]`: the workers are stopped while a
    /// restore replaces that database.
    private func backupDatabases(_ node: Node, at path: String) -> ([String], [String: [String]], [String: Int]) {
        var paths: [String] = []
        var workers: [String: [String]] = [:]
        var lines: [String: Int] = [:]
        var stored: [String: String] = [:]
        for item in reader.items(node, at: path) ?? [] {
            let file: String
            var itemPath = item.path
            var fileNode = item.node
            if case .mapping = item.node {
                guard let entry = reader.fields(item.node, at: item.path, allowed: ConfigKeys.backupDatabase),
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
            lines[file] = fileNode.line
        }
        return (paths, workers, lines)
    }

    private func remote(_ node: Node, at path: String) -> RemoteSpec? {
        guard let fields = reader.fields(node, at: path, allowed: ConfigKeys.remote) else { return nil }
        guard let urlNode = fields.required("url"), var url = reader.nonEmptyString(urlNode, at: fields.keyPath("url")) else { return nil }
        if Self.hasPassword(url) {
            // Never keep a password where it could reach a log line or a commit message.
            reader.report(fields.keyPath("url"), "contains a password; remove it from the URL and give the token by token_file (a file) or token_env (a variable of opsd's environment)", at: urlNode)
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
        if let name = fields.optional("token_env", reader.nonEmptyString) {
            if !EnvironmentFile.isVariableName(name) {
                reader.report(fields.keyPath("token_env"), "\(NodeReader.quote(name)) is not an environment variable name (letters, digits and _, not starting with a digit); name the variable that holds the token", at: fields["token_env"])
            } else if spec.tokenFile != nil {
                reader.report(fields.keyPath("token_env"), "token_file and token_env are both set; keep one: the token comes from a file or from opsd's environment, not both", at: fields["token_env"])
            } else {
                spec.tokenEnv = name
            }
        }
        return spec
    }

    /// True for a filesystem path; false for `scheme://…` and scp-like `user@host:path`.
    static func isLocalPath(_ url: String) -> Bool {
        if url.contains("://") { return false }
        guard let colon = url.firstIndex(of: ":") else { return true }
        return url[..<colon].contains("/")
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
