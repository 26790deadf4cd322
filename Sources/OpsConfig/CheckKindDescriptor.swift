/// What opsd knows about one kind of check besides its settings, in one place: the config key
/// that selects it, the unit of what it measures (so which thresholds make sense for it), the
/// health+json draft's names for it, and how its part of a check entry is read.
///
/// Code that needs one of these facts asks the descriptor (`spec.kind.descriptor`, or
/// `CheckKindDescriptor.named(_:)` for a kind that arrives as text, as in a report) and never
/// switches on the key. A new kind is a `CheckKind` case, a descriptor here (listed in `all`), and
/// its measurement in the Checks module's `CheckEnvironment`: the compiler points at the two
/// exhaustive switches (`CheckKind.descriptor` and that factory) that must learn it.
public struct CheckKindDescriptor: Sendable {
    /// The config key that selects the kind (`disk`, `http`, …); also its name in reports,
    /// alerts (`OPS_KIND`) and metrics.
    public let key: String
    /// The unit of the primary value in health+json's words (`percent`, `ms`, `items`, `h`), as
    /// each run reports it; nil where the check's plugin names its own.
    public let unit: String?
    /// What the primary value is, in words for messages: "a latency in milliseconds".
    public let measures: String
    /// The health+json draft's measurement name, the second half of its `name:measurement` keys
    /// (`utilization`, `responseTime`, `backlog`; `status` where none of the draft's fits).
    public let healthMeasurement: String
    /// The draft's `componentType`: `system`, `datastore` or `component`.
    public let componentType: String
    /// Keys of a check entry besides the kind's own that belong to this kind (`expect` for http).
    let companionKeys: [String]
    /// Reads the kind's own key (and its companion keys) of one check entry.
    let read: @Sendable (ConfigParser, CheckEntry) -> CheckKind?

    /// Whether the primary value is a percentage, so that `80%` thresholds make sense for it.
    public var measuresPercent: Bool { unit == "percent" }

    /// Every kind, in the order the reference configuration lists them.
    public static let all: [CheckKindDescriptor] = [.disk, .memory, .sqlite, .queue, .http, .command, .backup]

    /// The kind whose key is `key`, if there is one.
    public static func named(_ key: String) -> CheckKindDescriptor? {
        all.first { $0.key == key }
    }

    /// `disk: [PATH…]`: used space and inodes, as `df` counts them.
    public static let disk = CheckKindDescriptor(
        key: "disk", unit: "percent", measures: "a percentage of space or inodes used",
        healthMeasurement: "utilization", componentType: "system", companionKeys: [], read: { $0.diskKind($1) })
    /// `memory: {}`: the host's memory and, inside a cgroup with a limit, the cgroup's.
    public static let memory = CheckKindDescriptor(
        key: "memory", unit: "percent", measures: "a percentage of memory used",
        healthMeasurement: "utilization", componentType: "system", companionKeys: [], read: { $0.memoryKind($1) })
    /// `sqlite: PATH` or `{path, query}`: a database's health, or a number its query returns.
    public static let sqlite = CheckKindDescriptor(
        key: "sqlite", unit: "ms", measures: "a latency in milliseconds (or the number its query returns)",
        healthMeasurement: "responseTime", componentType: "datastore", companionKeys: [], read: { $0.sqliteKind($1) })
    /// `queue: {redis|sqlite|spool…}`: a backlog of pending work.
    public static let queue = CheckKindDescriptor(
        key: "queue", unit: "items", measures: "a count of items",
        healthMeasurement: "backlog", componentType: "datastore", companionKeys: [], read: { $0.queueKind($1) })
    /// `http: URL` with `expect:`: an endpoint's answer and latency.
    public static let http = CheckKindDescriptor(
        key: "http", unit: "ms", measures: "a latency in milliseconds",
        healthMeasurement: "responseTime", componentType: "component", companionKeys: ["expect"], read: { $0.httpKind($1) })
    /// `command: [PLUGIN, ARGS…]` with `cwd:`: a Nagios plugin, whose exit code is the state.
    public static let command = CheckKindDescriptor(
        key: "command", unit: nil, measures: "a plugin's first performance value",
        healthMeasurement: "status", componentType: "component", companionKeys: ["cwd"], read: { $0.commandKind($1) })
    /// `backup: {max_age}`: how long ago a backup last reached safety.
    public static let backup = CheckKindDescriptor(
        key: "backup", unit: "h", measures: "the age of the last safe backup in hours",
        healthMeasurement: "status", componentType: "component", companionKeys: [], read: { $0.backupKind($1) })
}

/// One entry of `checks:` as a kind's reader sees it: the entry's fields, and the parts of the
/// rest of the file a kind may need (the backup check takes the state directory and the remote).
struct CheckEntry {
    /// The entry's fields.
    let fields: Fields
    /// The key of the kind being read.
    let key: String
    /// The `daemon:` section as read.
    let daemon: DaemonSettings
    /// The `backup:` section, if it was read without problems.
    let backup: BackupSpec?
    /// Whether the file has a `backup:` section at all (it may have had problems).
    let backupDeclared: Bool

    /// The kind's own node (`http: …`).
    var node: Node { fields.values[key] ?? fields.node }
    /// Its key path (`checks[2].http`).
    var path: String { fields.keyPath(key) }
}
