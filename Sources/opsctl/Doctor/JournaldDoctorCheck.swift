import FoundationEssentials

/// journald's rate limit against the workers' output: under systemd every worker writes to the
/// journal as part of opsd's unit, so all of them share the one unit's budget
/// (`RateLimitBurst=` lines per `RateLimitIntervalSec=`), and journald drops the rest silently.
struct JournaldDoctorCheck: DoctorCheck {
    func run(in context: DoctorContext) async -> [DoctorFinding] {
        guard context.installedUnit != nil else {
            return [.skipped("journald", "workers write to the journal only when opsd runs as a unit, and \(context.unitAbsence)")]
        }
        let workers = context.configuration.workers.count
        guard workers > 0 else { return [.ok("journald", "no worker writes to the journal")] }
        let limit = JournaldRateLimit.read()
        guard limit.isOn else {
            return [.ok("journald", "journald does not rate-limit (\(limit.setting), \(limit.source))")]
        }
        return [.warn(
            "journald", "journald keeps at most \(limit.burst) lines per \(limit.interval) from \(context.unit) (\(limit.source)), and its \(workers) worker(s) share that budget, so a burst of output is dropped silently",
            fix: "write RateLimitIntervalSec=0 under [Journal] in /etc/systemd/journald.conf.d/ops.conf (or raise RateLimitBurst=), then run systemctl restart systemd-journald")]
    }
}

/// journald.conf's `RateLimitIntervalSec=` and `RateLimitBurst=` as journald reads them: the main
/// file, then the drop-ins of every journald.conf.d in the order of their names (a name in /etc
/// hides the same name in /run and /usr/lib); the last setting wins.
struct JournaldRateLimit {
    /// journald's defaults (journald.conf(5)).
    var interval = "30s"
    var burst = "10000"
    /// Where the values came from, for the message.
    var source = "journald's defaults"

    /// Rate limiting is off when either value is 0.
    var isOn: Bool { !Self.isZero(interval) && !Self.isZero(burst) }

    var setting: String { "RateLimitIntervalSec=\(interval), RateLimitBurst=\(burst)" }

    static let directories = ["/usr/lib/systemd/journald.conf.d", "/usr/local/lib/systemd/journald.conf.d", "/run/systemd/journald.conf.d", "/etc/systemd/journald.conf.d"]

    static func read(root: String = "") -> JournaldRateLimit {
        var limit = JournaldRateLimit()
        var dropIns: [String: String] = [:]
        for directory in directories {
            let names = (try? FileManager.default.contentsOfDirectory(atPath: root + directory)) ?? []
            for name in names where name.hasSuffix(".conf") { dropIns[name] = root + directory + "/" + name }
        }
        let files = [root + "/etc/systemd/journald.conf"] + dropIns.keys.sorted().compactMap { dropIns[$0] }
        for file in files {
            guard let data = FileManager.default.contents(atPath: file) else { continue }
            limit.apply(String(decoding: data, as: UTF8.self), from: file)
        }
        return limit
    }

    /// Takes the settings of one file's `[Journal]` section.
    mutating func apply(_ text: String, from file: String) {
        var inJournal = false
        for raw in text.split(separator: "\n") {
            let line = Self.trimmed(raw)
            if line.hasPrefix("[") { inJournal = line == "[Journal]"; continue }
            guard inJournal, !line.hasPrefix("#"), !line.hasPrefix(";") else { continue }
            let pair = line.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            guard pair.count == 2 else { continue }
            let value = Self.trimmed(pair[1])
            switch Self.trimmed(pair[0]) {
            case "RateLimitIntervalSec", "RateLimitInterval":
                interval = value
                source = file
            case "RateLimitBurst":
                burst = value
                source = file
            default: continue
            }
        }
    }

    static func trimmed(_ text: Substring) -> String {
        String(text.drop { $0.isWhitespace }.reversed().drop { $0.isWhitespace }.reversed())
    }

    /// "0", "0s", "0ms": a zero whatever the unit.
    static func isZero(_ value: String) -> Bool {
        let digits = value.prefix { $0.isNumber }
        return !digits.isEmpty && digits.allSatisfy { $0 == "0" }
    }
}
