import CYAML
import Glibc

/// What a configuration holds that must never leave the host: the files it names as holding a
/// secret, and the values in the config file itself that are secrets. Backups use it to leave
/// those files out and to store the config file with its secret values masked.
///
/// The knowledge is the config's own: each entry below names the typed field it stands for, so
/// a new secret-bearing field belongs here next to its parser.
public enum ConfigSecrets {
    /// A file the configuration names as holding a secret.
    public struct SecretFile: Sendable, Equatable {
        /// The file.
        public var path: String
        /// The key that names it (`backup.remote.token_file`).
        public var key: String

        /// A secret file named by `key`.
        public init(path: String, key: String) {
            self.path = path
            self.key = key
        }
    }

    /// Every file `configuration` names as holding a secret: `RemoteSpec.tokenFile` and
    /// `.sshKey`, each HTTP check header read from a file (`HeaderSpec.Source.file`), and the
    /// `environment_file:` of workers and command jobs.
    /// (`known_hosts` and `ca_file` hold public keys and certificates: not secrets.)
    public static func files(in configuration: Configuration) -> [SecretFile] {
        var files: [SecretFile] = []
        if let remote = configuration.backup?.remote {
            if let key = remote.sshKey { files.append(SecretFile(path: key, key: "backup.remote.ssh_key")) }
            if let token = remote.tokenFile { files.append(SecretFile(path: token, key: "backup.remote.token_file")) }
        }
        for (index, worker) in configuration.workers.enumerated() {
            files += worker.environmentFiles.map { SecretFile(path: $0.path, key: "workers[\(index)].environment_file") }
            for (variable, reference) in worker.environmentReferences.sorted(by: { $0.key < $1.key }) {
                if case .file(let path) = reference { files.append(SecretFile(path: path, key: "workers[\(index)].environment.\(variable)")) }
            }
        }
        for (index, job) in configuration.jobs.enumerated() {
            guard case .command(let command) = job.action else { continue }
            files += command.environmentFiles.map { SecretFile(path: $0.path, key: "jobs[\(index)].environment_file") }
        }
        for (index, check) in configuration.checks.enumerated() {
            guard case .http(let http) = check.kind else { continue }
            for header in http.headers {
                if case .file(let path) = header.value {
                    files.append(SecretFile(path: path, key: "checks[\(index)].http.headers.\(header.name)"))
                }
            }
        }
        return files
    }

    /// The variables of opsd's own environment the configuration reads secrets from (an HTTP
    /// check's `headers: {Authorization: {env: API_TOKEN}}`, `backup.remote.token_env`, which
    /// only the scheduled backup's companion is given). opsd keeps them from the processes
    /// it starts: a worker, job or plugin gets what its own `environment:` says, never a
    /// credential meant for opsd.
    public static func environmentVariables(in configuration: Configuration) -> Set<String> {
        var names: Set<String> = []
        // A worker that asks for one by name gets it under its own `environment:` entry.
        for worker in configuration.workers {
            for case .variable(let name) in worker.environmentReferences.values { names.insert(name) }
        }
        for check in configuration.checks {
            guard case .http(let http) = check.kind else { continue }
            for header in http.headers {
                if case .environment(let name) = header.value { names.insert(name) }
            }
        }
        if let name = configuration.backup?.remote?.tokenEnv { names.insert(name) }
        return names
    }

    /// The secret files `backup.files` names or holds (a listed file, or one below a listed
    /// directory, that no `exclude` glob matches), judged from the paths as written: what
    /// `opsctl config check` can warn about. A backup leaves them out whatever path reaches them
    /// (it compares files, not names) and warns too.
    public static func filesInBackup(of configuration: Configuration) -> [SecretFile] {
        guard let backup = configuration.backup else { return [] }
        return files(in: configuration).filter { secret in
            !backup.excludes(secret.path) && backup.files.contains { root in
                let directory = root.hasSuffix("/") ? root : root + "/"
                return secret.path == root || secret.path.hasPrefix(directory)
            }
        }
    }

    /// A config file's text with its secret values masked, line for line.
    public struct MaskedText: Sendable, Equatable {
        /// The masked text; it has as many lines as the original, and every value that is not a
        /// secret is as it was written.
        public var text: String
        /// How many values were masked.
        public var maskedValues: Int
    }

    /// What replaces a secret value.
    public static let mask = "<masked>"

    /// How the value at a key path is masked.
    enum Rule {
        /// The whole value is a secret.
        case value
        /// A URL: credentials before the host, query values and the fragment are secret; with
        /// `keepPath` false (webhooks, which carry their token in the path) the path too.
        case url(keepPath: Bool)
    }

    /// The secret values of the config file, by key path (`[]` is any item of a list, `*` any
    /// key of a mapping), and the typed field each one is read into.
    static let rules: [([String], Rule)] = [
        (["workers", "[]", "environment", "*"], .value),             // WorkerSpec.environment
        (["jobs", "[]", "environment", "*"], .value),                // JobSpec.environment
        (["alerts", "[]", "webhook"], .url(keepPath: false)),        // AlertSpec.Target.webhook
        (["checks", "[]", "http"], .url(keepPath: true)),            // HTTPCheckSpec.url (short form)
        (["checks", "[]", "http", "url"], .url(keepPath: true)),     // HTTPCheckSpec.url
        (["checks", "[]", "http", "headers", "*"], .value),          // HeaderSpec.Source.literal
        (["checks", "[]", "queue", "redis"], .url(keepPath: true)),  // QueueSource.redis
        (["backup", "remote", "url"], .url(keepPath: true)),         // RemoteSpec.url
    ]

    /// Masks the secret values of a config file's text. Nil when the text is not YAML opsd can
    /// read, or when a secret could not be masked in place (then nothing of it may be stored).
    public static func masked(_ text: String) -> MaskedText? {
        // libyaml's marks do not count a byte order mark; the scalars here would.
        if text.unicodeScalars.first == "\u{FEFF}" {
            guard let rest = masked(String(String.UnicodeScalarView(text.unicodeScalars.dropFirst()))) else { return nil }
            return MaskedText(text: "\u{FEFF}" + rest.text, maskedValues: rest.maskedValues)
        }
        guard let found = SecretLocator.locate(text) else { return nil }
        var scalars = Array(text.unicodeScalars)
        var count = 0
        var end = Int.max
        for secret in found.sorted(by: { $0.range.lowerBound > $1.range.lowerBound }) {
            // A value shared through an anchor may be found twice; mask it once.
            guard secret.range.upperBound <= end, secret.range.upperBound <= scalars.count else { continue }
            let replacement = maskedValue(secret.value, rule: secret.rule)
            if replacement == secret.value { continue }
            // A scalar's range begins at its anchor or tag (`&pw hunter2`): those stay, so an
            // alias of the anchor still resolves (to the masked value).
            let range = Self.valueRange(secret.range, in: scalars)
            let newlines = scalars[range].filter { $0 == "\n" }.count
            scalars.replaceSubrange(range, with: Array((quoted(replacement) + String(repeating: "\n", count: newlines)).unicodeScalars))
            end = secret.range.lowerBound
            count += 1
        }
        var result = String.UnicodeScalarView()
        result.append(contentsOf: scalars)
        let masked = String(result)
        // Read the result back as a reader would: every secret value must now read as masked
        // (an edit that broke the YAML, or a layout the locator did not foresee, shows here).
        guard let again = SecretLocator.locate(masked),
              again.allSatisfy({ maskedValue($0.value, rule: $0.rule) == $0.value }) else { return nil }
        return MaskedText(text: masked, maskedValues: count)
    }

    /// `range` without the anchor (`&name`) and tag (`!tag`) properties that may open it.
    static func valueRange(_ range: Range<Int>, in scalars: [Unicode.Scalar]) -> Range<Int> {
        var start = range.lowerBound
        while start < range.upperBound, scalars[start] == "&" || scalars[start] == "!" {
            while start < range.upperBound, scalars[start] != " ", scalars[start] != "\t", scalars[start] != "\n" { start += 1 }
            while start < range.upperBound, scalars[start] == " " || scalars[start] == "\t" || scalars[start] == "\n" { start += 1 }
        }
        return start < range.upperBound ? start..<range.upperBound : range
    }

    /// The value with its secret parts replaced by `mask`.
    static func maskedValue(_ value: String, rule: Rule) -> String {
        switch rule {
        case .value:
            return value.isEmpty ? value : mask
        case .url(let keepPath):
            guard let scheme = value.firstRange(of: "://") else { return value }
            let rest = value[scheme.upperBound...]
            let authorityEnd = rest.firstIndex { $0 == "/" || $0 == "?" || $0 == "#" } ?? rest.endIndex
            var authority = String(rest[..<authorityEnd])
            if let at = authority.lastIndex(of: "@") { authority = mask + authority[at...] }
            var tail = String(rest[authorityEnd...])
            var fragment = ""
            if let hash = tail.firstIndex(of: "#") {
                fragment = tail.index(after: hash) == tail.endIndex ? "#" : "#" + mask
                tail = String(tail[..<hash])
            }
            var query = ""
            if let question = tail.firstIndex(of: "?") {
                let pairs = tail[tail.index(after: question)...].split(separator: "&", omittingEmptySubsequences: false).map { pair -> String in
                    guard let equals = pair.firstIndex(of: "=") else { return pair.isEmpty ? "" : mask }
                    let secret = pair[pair.index(after: equals)...]
                    return pair[...equals] + (secret.isEmpty ? "" : mask)
                }
                query = "?" + pairs.joined(separator: "&")
                tail = String(tail[..<question])
            }
            if !keepPath, tail.count > 1, tail != "/" + mask { tail = "/" + mask }
            return value[..<scheme.upperBound] + authority + tail + query + fragment
        }
    }

    /// `value` as a YAML double-quoted scalar.
    static func quoted(_ value: String) -> String {
        var text = "\""
        for character in value {
            if character == "\\" || character == "\"" { text.append("\\") }
            text.append(character)
        }
        return text + "\""
    }
}

/// Finds the secret values of a YAML text and where each is written, from libyaml's events
/// (whose marks count characters): the parts of `ConfigSecrets.rules` that a text has.
private struct SecretLocator {
    struct Found {
        var range: Range<Int>
        var value: String
        var rule: ConfigSecrets.Rule
    }

    /// A scalar value inside a collection: what an anchor on the collection stands for.
    struct Value {
        var range: Range<Int>
        var text: String
    }

    /// An open mapping or sequence.
    struct Frame {
        var isMapping: Bool
        var path: [String]
        var anchor: String?
        var expectingKey = true
        var key = "?"
        var values: [Value] = []
    }

    var found: [Found] = []
    var anchors: [String: [Value]] = [:]
    var stack: [Frame] = []

    static func locate(_ text: String) -> [Found]? {
        var parser = yaml_parser_t()
        guard yaml_parser_initialize(&parser) == 1 else { return nil }
        defer { yaml_parser_delete(&parser) }
        let bytes = Array(text.utf8)
        var locator = SecretLocator()
        let ok = bytes.withUnsafeBufferPointer { buffer in
            withUnsafeMutablePointer(to: &parser) { pointer in
                yaml_parser_set_input_string(pointer, buffer.baseAddress, buffer.count)
                return locator.run(pointer)
            }
        }
        return ok ? locator.found : nil
    }

    private mutating func run(_ parser: UnsafeMutablePointer<yaml_parser_t>) -> Bool {
        while true {
            var event = yaml_event_t()
            guard yaml_parser_parse(parser, &event) == 1 else { return false }
            defer { yaml_event_delete(&event) }
            let range = Int(event.start_mark.index)..<Int(event.end_mark.index)
            switch event.type {
            case YAML_STREAM_END_EVENT:
                return true
            case YAML_SCALAR_EVENT:
                let scalar = event.data.scalar
                let text = scalar.value.map { String(decoding: UnsafeBufferPointer(start: $0, count: scalar.length), as: UTF8.self) } ?? ""
                if let top = stack.last, top.isMapping, top.expectingKey {
                    stack[stack.count - 1].expectingKey = false
                    stack[stack.count - 1].key = text
                    continue
                }
                guard let path = nextPath() else { continue }
                let value = Value(range: range, text: text)
                if let anchor = Self.string(scalar.anchor) { anchors[anchor] = [value] }
                if let rule = Self.rule(for: path) { found.append(Found(range: range, value: text, rule: rule)) }
                if !stack.isEmpty { stack[stack.count - 1].values.append(value) }
            case YAML_ALIAS_EVENT:
                guard let path = nextPath(), let name = Self.string(event.data.alias.anchor) else { continue }
                // An anchor on a mapping key is not recorded: an alias of one where a secret may
                // be cannot be masked, so the file is not stored at all.
                guard let values = anchors[name] ?? (Self.mayHoldSecret(path) ? nil : []) else { return false }
                // An alias where a secret may be: everything the anchor holds is masked where it
                // is written (more than needed, never less).
                if Self.mayHoldSecret(path) {
                    for value in values { found.append(Found(range: value.range, value: value.text, rule: .value)) }
                }
                if !stack.isEmpty { stack[stack.count - 1].values.append(contentsOf: values) }
            case YAML_MAPPING_START_EVENT, YAML_SEQUENCE_START_EVENT:
                let path = nextPath() ?? ["?"]
                let anchor = event.type == YAML_MAPPING_START_EVENT ? Self.string(event.data.mapping_start.anchor) : Self.string(event.data.sequence_start.anchor)
                stack.append(Frame(isMapping: event.type == YAML_MAPPING_START_EVENT, path: path, anchor: anchor))
            case YAML_MAPPING_END_EVENT, YAML_SEQUENCE_END_EVENT:
                guard let frame = stack.popLast() else { return false }
                if let anchor = frame.anchor { anchors[anchor] = frame.values }
                if !stack.isEmpty { stack[stack.count - 1].values.append(contentsOf: frame.values) }
            default:
                continue
            }
        }
    }

    /// The key path of the node that starts now; nil for a mapping's key (keys are no secrets),
    /// whose text becomes the path of the value after it.
    private mutating func nextPath() -> [String]? {
        guard let top = stack.last else { return [] }
        if !top.isMapping { return top.path + ["[]"] }
        if top.expectingKey {
            stack[stack.count - 1].expectingKey = false
            stack[stack.count - 1].key = "?"
            return nil
        }
        stack[stack.count - 1].expectingKey = true
        return top.path + [top.key]
    }

    private static func string(_ pointer: UnsafeMutablePointer<yaml_char_t>?) -> String? {
        pointer.map { String(cString: UnsafeRawPointer($0).assumingMemoryBound(to: CChar.self)) }
    }

    static func matches(_ pattern: [String], _ path: [String]) -> Bool {
        pattern.count == path.count && zip(pattern, path).allSatisfy { $0 == "*" || $0 == $1 }
    }

    static func rule(for path: [String]) -> ConfigSecrets.Rule? {
        ConfigSecrets.rules.first { matches($0.0, path) }?.1
    }

    /// True when a secret rule applies to `path` or to something inside it.
    static func mayHoldSecret(_ path: [String]) -> Bool {
        ConfigSecrets.rules.contains { pattern, _ in pattern.count >= path.count && matches(Array(pattern.prefix(path.count)), path) }
    }
}

extension BackupSpec {
    /// True when an `exclude` glob (fnmatch) matches the whole path (`/etc/app/*.key`) or the
    /// file name alone (`*.key`).
    public func excludes(_ path: String) -> Bool { Self.excludes(path, by: exclude) }

    /// True when one of `globs` matches the whole path or the file name alone.
    public static func excludes(_ path: String, by globs: [String]) -> Bool {
        let name = path.split(separator: "/").last.map(String.init) ?? path
        return globs.contains { fnmatch($0, path, 0) == 0 || fnmatch($0, name, 0) == 0 }
    }
}
