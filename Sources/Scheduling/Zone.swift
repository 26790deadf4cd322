import FoundationEssentials
import Synchronization

/// An IANA time zone (`Europe/Berlin`), read from the system's tz database.
///
/// Foundation's `TimeZone` needs ICU, which costs the daemon megabytes of resident memory; a
/// scheduler only needs one question answered, "what is the UTC offset at this instant?", and
/// the tz database files (TZif, RFC 8536) answer it directly. See ``ZoneRules``.
///
/// Two zones are equal when their identifiers are: `Zone.named("Europe/Berlin")` is the same
/// zone each time, and a zone is always compared by the name an operator wrote.
public struct Zone: Sendable, Hashable, CustomStringConvertible {
    /// The tz database name, `UTC`, or whatever name it was loaded under.
    public let identifier: String
    let rules: ZoneRules

    init(identifier: String, rules: ZoneRules) {
        self.identifier = identifier
        self.rules = rules
    }

    /// Coordinated Universal Time; needs no file.
    public static let utc = Zone(identifier: "UTC", rules: .utc)

    /// The zone called `name` in the tz database (`$TZDIR`, else `/usr/share/zoneinfo`), or nil
    /// when there is no such TZif file. `UTC` always exists.
    ///
    /// A name is a relative path of letters, digits, `_`, `-` and `+` (`America/Port-au-Prince`,
    /// `Etc/GMT+5`): `..`, absolute paths and other characters are refused before the file
    /// system is asked. Each name is read once and kept; names that fail are not kept, so a
    /// mistyped name cannot grow the cache and a zone installed later is found.
    public static func named(_ name: String) -> Zone? {
        if name == "UTC" { return .utc }
        // The file is read under the lock: it is a few kilobytes, read once per name, and this
        // way two threads asking for the same new zone read it once, not twice.
        return cache.withLock { cache in
            if let zone = cache[name] { return zone }
            guard let zone = load(name, from: databaseDirectory) else { return nil }
            cache[name] = zone
            return zone
        }
    }

    /// The system's zone: the `TZ` environment variable when it names a zone (`Europe/Berlin`,
    /// `:Europe/Berlin`), else the zone `/etc/localtime` links to, else UTC.
    ///
    /// A `TZ` that names no zone falls through to `/etc/localtime` rather than silently switching
    /// the daemon to UTC. `TZ` may also be a path into the database
    /// (`:/usr/share/zoneinfo/Europe/Berlin`); the part after `zoneinfo/` is the name.
    ///
    /// Both are looked at on every call, since either can change while the daemon runs; the
    /// zone itself comes from the cache of ``named(_:)``.
    public static var local: Zone {
        let link = try? FileManager.default.destinationOfSymbolicLink(atPath: "/etc/localtime")
        return local(tz: ProcessInfo.processInfo.environment["TZ"], localtime: link)
    }

    /// ``local`` from the value of `TZ` and the target of the `/etc/localtime` link, so that
    /// tests need not change the process's environment.
    static func local(tz: String?, localtime: String?) -> Zone {
        if let tz, !tz.isEmpty {
            let name = tz.hasPrefix(":") ? tz.dropFirst() : Substring(tz)
            if let zone = named(databaseName(fromPath: name)) { return zone }
        }
        if let localtime, let zone = named(databaseName(fromPath: Substring(localtime))) { return zone }
        return .utc
    }

    /// The offset from UTC at `unixSeconds`, in seconds east of UTC (Berlin in summer: 7200).
    public func offset(at unixSeconds: Int64) -> Int {
        rules.offset(at: unixSeconds)
    }

    /// The first instant after `unixSeconds` at which the offset changes, or nil when it never
    /// changes again (UTC, or a zone that abolished daylight-saving time).
    ///
    /// Unlike Foundation's `nextDaylightSavingTimeTransition(after:)` this includes changes of
    /// the standard offset (Samoa moving across the date line), and skips changes that keep the
    /// offset (a new abbreviation, or standard and daylight time trading places).
    public func nextTransition(after unixSeconds: Int64) -> Int64? {
        rules.nextTransition(after: unixSeconds)
    }

    /// The identifier.
    public var description: String { identifier }

    /// Whether the identifiers are equal.
    public static func == (lhs: Zone, rhs: Zone) -> Bool { lhs.identifier == rhs.identifier }

    /// Hashes the identifier.
    public func hash(into hasher: inout Hasher) { hasher.combine(identifier) }

    // MARK: - Wall clock

    /// The earliest and latest instants whose wall clock reads `wall` (seconds since 1970 as if
    /// the zone were UTC): one instant normally, two in a repeated hour, nil in a skipped one.
    func instants(forWall wall: Int64) -> (earliest: Int64, latest: Int64)? {
        // Every offset lies within ±26 hours, so an instant that reads `wall` lies within 26 hours
        // of it. Try each offset in effect somewhere in that window: usually one or two.
        let window: Int64 = 26 * 3600
        var found: (earliest: Int64, latest: Int64)?
        var t = wall - window
        while t <= wall + window {
            let candidate = wall - Int64(offset(at: t))
            if offset(at: candidate) == Int(wall - candidate) {
                found = (min(found?.earliest ?? candidate, candidate), max(found?.latest ?? candidate, candidate))
            }
            guard let next = nextTransition(after: t) else { break }
            t = next
        }
        return found
    }

    // MARK: - Loading

    private static let cache = Mutex<[String: Zone]>([:])

    /// `$TZDIR` as the C library reads it, else Debian's (and everyone's) default.
    private static var databaseDirectory: String {
        if let directory = ProcessInfo.processInfo.environment["TZDIR"], !directory.isEmpty { return directory }
        return "/usr/share/zoneinfo"
    }

    /// Reads zone `name` from `directory`, bypassing the cache; nil for a refused name, a missing
    /// or unreadable file, or one that is not TZif.
    static func load(_ name: String, from directory: String) -> Zone? {
        guard isPlausibleName(name) else { return nil }
        // Zone names are often symlinks (`US/Eastern`); look at what they point to, and read only
        // a regular file: a directory is not a zone, and a device (`TZDIR=/dev`) may never end.
        let path = URL(fileURLWithPath: directory + "/" + name).resolvingSymlinksInPath().path
        guard let attributes = try? FileManager.default.attributesOfItem(atPath: path),
            attributes[.type] as? FileAttributeType == .typeRegular,
            let data = FileManager.default.contents(atPath: path),
            let rules = ZoneRules(tzif: Array(data))
        else { return nil }
        return Zone(identifier: name, rules: rules)
    }

    /// Whether `name` is a relative path made of tz database characters (see ``named(_:)``).
    static func isPlausibleName(_ name: String) -> Bool {
        let components = name.utf8.split(separator: UInt8(ascii: "/"), omittingEmptySubsequences: false)
        return !name.isEmpty
            && components.allSatisfy { component in
                !component.isEmpty
                    && component.allSatisfy {
                        TextScanner.isLetter($0) || TextScanner.isDigit($0) || $0 == UInt8(ascii: "_") || $0 == UInt8(ascii: "-")
                            || $0 == UInt8(ascii: "+")
                    }
            }
    }

    /// `Europe/Berlin` from `/usr/share/zoneinfo/Europe/Berlin` (or `../usr/share/zoneinfo/…`):
    /// what follows the last `zoneinfo` directory; `path` itself when there is none.
    static func databaseName(fromPath path: Substring) -> String {
        let components = path.split(separator: "/", omittingEmptySubsequences: false)
        guard let index = components.lastIndex(of: "zoneinfo") else { return String(path) }
        return components[(index + 1)...].joined(separator: "/")
    }
}
