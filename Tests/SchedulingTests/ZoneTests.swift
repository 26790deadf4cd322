import Foundation
@testable import Scheduling
import Testing

/// `Zone` on its own: known answers (checked with Python's zoneinfo and `zdump -v`), loading and
/// refusing names, the local zone, and slim files compiled on the spot.
@Suite struct ZoneTests {
    static func utc(_ year: Int, _ month: Int, _ day: Int, _ hour: Int = 0, _ minute: Int = 0) -> Int64 {
        POSIXRuleTests.utc(year, month, day, hour, minute)
    }

    static func zone(_ name: String) throws -> Zone { try #require(Zone.named(name)) }

    @Test func knownOffsetsAndTransitions() throws {
        let berlin = try Self.zone("Europe/Berlin")
        #expect(berlin.offset(at: Self.utc(2026, 1, 15)) == 3600)
        #expect(berlin.offset(at: Self.utc(2026, 7, 15)) == 7200)
        #expect(berlin.nextTransition(after: Self.utc(2026, 1, 1)) == Self.utc(2026, 3, 29, 1))
        #expect(berlin.nextTransition(after: Self.utc(2026, 3, 29, 1)) == Self.utc(2026, 10, 25, 1))
        // Past 2037, where Debian's table ends and the footer's rule takes over.
        #expect(berlin.nextTransition(after: Self.utc(2040, 1, 1)) == Self.utc(2040, 3, 25, 1))
        #expect(berlin.offset(at: Self.utc(2040, 7, 1)) == 7200)
        // Berlin's local mean time before 1893: +0:53:28.
        #expect(berlin.offset(at: Self.utc(1890, 1, 1)) == 3208)

        // Lord Howe: 30 minutes of daylight time.
        let lordHowe = try Self.zone("Australia/Lord_Howe")
        #expect(lordHowe.nextTransition(after: Self.utc(2026, 1, 1)) == Self.utc(2026, 4, 4, 15))
        #expect(lordHowe.offset(at: Self.utc(2026, 4, 4, 15)) == 37800)
        #expect(lordHowe.nextTransition(after: Self.utc(2026, 4, 4, 15)) == Self.utc(2026, 10, 3, 15, 30))
        #expect(lordHowe.offset(at: Self.utc(2026, 10, 3, 15, 30)) == 39600)

        // Troll: +00 in winter, +02 in summer.
        let troll = try Self.zone("Antarctica/Troll")
        #expect(troll.nextTransition(after: Self.utc(2026, 1, 1)) == Self.utc(2026, 3, 29, 1))
        #expect(troll.offset(at: Self.utc(2026, 6, 1)) == 7200)

        // Samoa skipped 30 December 2011: -10 (daylight time) straight to +14.
        let apia = try Self.zone("Pacific/Apia")
        #expect(apia.nextTransition(after: Self.utc(2011, 12, 1)) == Self.utc(2011, 12, 30, 10))
        #expect(apia.offset(at: Self.utc(2011, 12, 30, 10) - 1) == -36000)
        #expect(apia.offset(at: Self.utc(2011, 12, 30, 10)) == 50400)

        // Morocco: +01, except around Ramadan (2026: 15 February to 22 March).
        let casablanca = try Self.zone("Africa/Casablanca")
        #expect(casablanca.nextTransition(after: Self.utc(2026, 1, 1)) == Self.utc(2026, 2, 15, 2))
        #expect(casablanca.offset(at: Self.utc(2026, 3, 1)) == 0)
        #expect(casablanca.offset(at: Self.utc(2026, 4, 1)) == 3600)

        // Zones that stopped changing: nothing after their last change.
        let saoPaulo = try Self.zone("America/Sao_Paulo")
        #expect(saoPaulo.nextTransition(after: Self.utc(2018, 6, 1)) == Self.utc(2018, 11, 4, 3))
        #expect(saoPaulo.nextTransition(after: Self.utc(2019, 2, 17, 2)) == nil)
        #expect(saoPaulo.offset(at: Self.utc(2030, 1, 1)) == -10800)
        let tehran = try Self.zone("Asia/Tehran")
        #expect(tehran.nextTransition(after: Self.utc(2022, 9, 21, 19, 30)) == nil)
        #expect(tehran.offset(at: Self.utc(2026, 6, 1)) == 12600)

        // Fixed offsets; note POSIX's sign: Etc/GMT+5 is five hours *behind* UTC.
        #expect(try Self.zone("Etc/GMT+5").offset(at: 0) == -18000)
        #expect(try Self.zone("Asia/Kolkata").nextTransition(after: Self.utc(2000, 1, 1)) == nil)
        #expect(Zone.utc.offset(at: Self.utc(2026, 6, 1)) == 0)
        #expect(Zone.utc.nextTransition(after: .min) == nil)
    }

    @Test func absurdInstantsDoNotTrap() throws {
        for zone in [try Self.zone("Europe/Berlin"), try Self.zone("Australia/Lord_Howe"), Zone.utc] {
            for t in [Int64.min, Int64.min + 1, -(1 << 60), -1, 0, 1 << 60, Int64.max - 1, Int64.max] {
                _ = zone.offset(at: t)
                _ = zone.nextTransition(after: t)
            }
        }
        // The last rule change anyone can ask about lies before the limit; after it, none.
        let berlin = try Self.zone("Europe/Berlin")
        #expect(berlin.nextTransition(after: Int64.max) == nil)
        #expect(berlin.nextTransition(after: Int64.min) == berlin.rules.transitions.first)
        #expect(berlin.offset(at: Int64.min) == 3208)  // local mean time, forever before 1893
    }

    @Test func standardOffsetChangesAreTransitionsButChangesThatKeepTheOffsetAreNot() throws {
        // Samoa's day skip (above) changed the standard offset; Argentina's 1999/2000 switch from
        // -03 standard to -04 plus daylight time changed nothing on the clock, so it is skipped:
        // the next change after September 1999 is the daylight time of December 2007.
        let buenosAires = try Self.zone("America/Argentina/Buenos_Aires")
        #expect(buenosAires.nextTransition(after: Self.utc(1999, 9, 1)) == Self.utc(2007, 12, 30, 3))
    }

    @Test func wallTimesMapToInstants() throws {
        let berlin = try Self.zone("Europe/Berlin")
        func wall(_ year: Int, _ month: Int, _ day: Int, _ hour: Int, _ minute: Int) -> Int64 { Self.utc(year, month, day, hour, minute) }
        // Ordinary: one instant.
        let ordinary = try #require(berlin.instants(forWall: wall(2026, 6, 1, 12, 0)))
        #expect(ordinary.earliest == Self.utc(2026, 6, 1, 10) && ordinary.latest == Self.utc(2026, 6, 1, 10))
        // Skipped (spring forward): none.
        #expect(berlin.instants(forWall: wall(2026, 3, 29, 2, 30)) == nil)
        // Repeated (fall back): two, an hour apart.
        let repeated = try #require(berlin.instants(forWall: wall(2026, 10, 25, 2, 30)))
        #expect(repeated.earliest == Self.utc(2026, 10, 25, 0, 30) && repeated.latest == Self.utc(2026, 10, 25, 1, 30))
        // Samoa's missing day.
        #expect(try Self.zone("Pacific/Apia").instants(forWall: wall(2011, 12, 30, 12, 0)) == nil)
    }

    @Test func calendarTriggersFollowTheFooterAndHalfHourChanges() throws {
        func fires(_ expression: String, _ zoneName: String, from: String, count: Int) throws -> [String] {
            let zone = try Self.zone(zoneName)
            let start = try #require(ISOTime.parse(from, zone: zone))
            return try Trigger.parse(expression, zone: zone).upcoming(after: start, count: count).map { ISOTime.format($0, in: zone) }
        }
        // 2040 is past Debian's table: the spring-forward rule comes from the footer.
        #expect(try fires("30 2 * * *", "Europe/Berlin", from: "2040-03-24T12:00:00+01:00", count: 2) == ["2040-03-25T03:00:00+02:00", "2040-03-26T02:30:00+02:00"])
        // Lord Howe skips 02:00–02:30: a 02:15 job runs at the change, 02:30 daylight time.
        #expect(try fires("15 2 * * *", "Australia/Lord_Howe", from: "2026-10-03T12:00:00+10:30", count: 2) == ["2026-10-04T02:30:00+11:00", "2026-10-05T02:15:00+11:00"])
        // …and repeats 01:30–02:00 in April: a fixed-hour job runs in the first pass only.
        #expect(try fires("45 1 * * *", "Australia/Lord_Howe", from: "2026-04-04T12:00:00+11:00", count: 2) == ["2026-04-05T01:45:00+11:00", "2026-04-06T01:45:00+10:30"])
    }

    // MARK: - Names

    @Test(arguments: [
        "Europe/Berlin", "US/Eastern", "Etc/GMT+5", "Etc/GMT-14", "America/Port-au-Prince", "America/Argentina/Buenos_Aires",
        "UTC", "Etc/UTC", "GMT", "posix/Europe/Berlin",
    ])
    func realNamesLoad(_ name: String) throws {
        let zone = try #require(Zone.named(name))
        #expect(zone.identifier == name)
        #expect(zone.description == name)
    }

    @Test(arguments: [
        "", "../etc/passwd", "/etc/passwd", "/usr/share/zoneinfo/Europe/Berlin", "Europe/../Europe/Berlin", "./UTC", "Europe/./Berlin",
        "Europe", "Europe/", "Europe//Berlin", "Mars/Olympus", "Europe/Berlin/x", "Europe/Berlin ", " Europe/Berlin", "Europe/Berlin\0",
        "Europe\\Berlin", "~/Berlin", "Europe/Berlin\n", "zone.tab", "tzdata.zi", "leapseconds", "right/Europe/Berlin", "utc", "Europe/Bérlin",
        String(repeating: "A/", count: 200) + "Berlin",
    ])
    func badNamesAreNil(_ name: String) {
        #expect(Zone.named(name) == nil)
    }

    @Test func utcNeedsNoFileAndZonesCompareByName() throws {
        #expect(Zone.named("UTC") == Zone.utc)
        #expect(Zone.utc.identifier == "UTC")
        #expect(Zone.load("UTC", from: "/nonexistent") == nil)  // "UTC" is built in, not read
        // Etc/UTC has the same offsets as UTC but is a different name, so a different zone.
        let etcUTC = try Self.zone("Etc/UTC")
        #expect(etcUTC != Zone.utc)
        #expect(etcUTC.offset(at: 0) == 0)
        let berlin = try Self.zone("Europe/Berlin")
        #expect(berlin == (try Self.zone("Europe/Berlin")))
        #expect(Set([berlin, try Self.zone("Europe/Berlin"), etcUTC, Zone.utc]).count == 3)
        #expect("\(berlin)" == "Europe/Berlin")
    }

    @Test func filesThatAreNotZonesAreNil() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("zonetests-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory + "/Bad/Folder", withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let berlin = TZifTests.berlinBytes
        _ = FileManager.default.createFile(atPath: directory + "/Bad/Empty", contents: Data())
        _ = FileManager.default.createFile(atPath: directory + "/Bad/Text", contents: Data("Europe/Berlin\n".utf8))
        _ = FileManager.default.createFile(atPath: directory + "/Bad/Truncated", contents: Data(berlin.prefix(1000)))
        _ = FileManager.default.createFile(atPath: directory + "/Good", contents: Data(berlin))
        try FileManager.default.createSymbolicLink(atPath: directory + "/Bad/Device", withDestinationPath: "/dev/zero")
        try FileManager.default.createSymbolicLink(atPath: directory + "/Bad/Dangling", withDestinationPath: directory + "/Nowhere")
        try FileManager.default.createSymbolicLink(atPath: directory + "/Link", withDestinationPath: "Good")
        for name in ["Bad/Empty", "Bad/Text", "Bad/Truncated", "Bad/Folder", "Bad", "Bad/Device", "Bad/Dangling", "Bad/Missing"] {
            #expect(Zone.load(name, from: directory) == nil, "\(name)")
        }
        #expect(Zone.load("Good", from: directory)?.offset(at: Self.utc(2026, 7, 1)) == 7200)
        #expect(Zone.load("Link", from: directory)?.identifier == "Link")
    }

    @Test func theLocalZone() {
        #expect(Zone.local(tz: "Europe/Berlin", localtime: nil).identifier == "Europe/Berlin")
        #expect(Zone.local(tz: ":Europe/Berlin", localtime: nil).identifier == "Europe/Berlin")
        #expect(Zone.local(tz: ":/usr/share/zoneinfo/Asia/Tokyo", localtime: nil).identifier == "Asia/Tokyo")
        // A TZ that names no zone falls through to /etc/localtime's target…
        #expect(Zone.local(tz: "Mars/Olympus", localtime: "/usr/share/zoneinfo/Europe/Paris").identifier == "Europe/Paris")
        #expect(Zone.local(tz: "", localtime: "../usr/share/zoneinfo/America/New_York").identifier == "America/New_York")
        // …and without either, it is UTC.
        #expect(Zone.local(tz: nil, localtime: nil) == .utc)
        #expect(Zone.local(tz: "CET-1CEST,M3.5.0,M10.5.0/3", localtime: "/nowhere/Berlin") == .utc)
        // The real one is whatever this machine says, read the same way.
        let environment = ProcessInfo.processInfo.environment["TZ"]
        let link = try? FileManager.default.destinationOfSymbolicLink(atPath: "/etc/localtime")
        #expect(Zone.local == Zone.local(tz: environment, localtime: link))
    }

    // MARK: - Slim files

    static let zic = "/usr/sbin/zic"
    static let zdump = "/usr/bin/zdump"
    static let source = "/usr/share/zoneinfo/tzdata.zi"
    /// Debian has all three (`libc-bin`, `tzdata`); elsewhere the slim-file test is skipped.
    static let haveTools = [zic, zdump].allSatisfy(FileManager.default.isExecutableFile(atPath:))
        && FileManager.default.fileExists(atPath: source)

    /// Every zone and link name in the tz source Debian ships.
    static func allNames() throws -> [String] {
        try String(contentsOfFile: source, encoding: .utf8).split(separator: "\n").compactMap { line in
            let fields = line.split(separator: " ")
            switch fields.first {
            case "Z": return fields.count > 1 ? String(fields[1]) : nil
            case "L": return fields.count > 2 ? String(fields[2]) : nil
            default: return nil
            }
        }
    }

    /// Runs `tool` and returns its standard output.
    static func run(_ tool: String, _ arguments: [String]) throws -> String {
        let process = Process()
        let output = Pipe()
        process.executableURL = URL(fileURLWithPath: tool)
        process.arguments = arguments
        process.standardOutput = output
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        try #require(process.terminationStatus == 0, "\(tool) \(arguments)")
        return String(decoding: data, as: UTF8.self)
    }

    /// The offset changes glibc's `zdump -v` sees in the TZif file at `path` from 1970 to 2100:
    /// (instant, new offset). zdump prints each change as two lines, one second apart, and also
    /// prints changes of abbreviation only; those are dropped.
    static func zdumpTransitions(_ path: String) throws -> [(Int64, Int)] {
        let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
        var entries: [(Int64, Int)] = []
        // Lines look like: "PATH  Sun Mar 29 01:00:00 2026 UT = Sun Mar 29 03:00:00 2026 CEST isdst=1 gmtoff=7200".
        for line in try run(zdump, ["-v", "-c", "1970,2100", path]).split(separator: "\n") where line.contains(" UT = ") {
            let fields = line.split(separator: " ")
            guard let ut = fields.firstIndex(of: "UT"), ut >= 5,
                let month = months.firstIndex(of: String(fields[ut - 4])), let day = Int(fields[ut - 3]), let year = Int(fields[ut - 1]),
                let offset = fields.last.flatMap({ Int($0.dropFirst("gmtoff=".count)) })
            else {
                Issue.record("unexpected zdump line: \(line)")
                continue
            }
            let clock = fields[ut - 2].split(separator: ":").compactMap { Int($0) }
            try #require(clock.count == 3)
            entries.append((utc(year, month + 1, day, clock[0], clock[1]) + Int64(clock[2]), offset))
        }
        return zip(entries, entries.dropFirst()).compactMap { before, after in
            after.0 == before.0 + 1 && after.1 != before.1 ? after : nil
        }
    }

    /// Compiles Debian's own tz source with `zic -b slim` and reads every zone both ways: a slim
    /// file stops its table at the last rule change, so from then on the footer alone must give
    /// the same offsets and transitions as Debian's fat file.
    ///
    /// Debian 12's `zic` is glibc 2.36's, older than the one that built the packaged files, and
    /// compiles a few zones differently (America/Ojinaga in November 2022, Gaza and Hebron in the
    /// 2070s). For those, glibc's `zdump` is the referee: it must read the slim file as we do.
    @Test(.enabled(if: haveTools))
    func slimFilesReadLikeDebiansFatOnes() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("zonetests-slim-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        _ = try Self.run(Self.zic, ["-b", "slim", "-d", directory, Self.source])

        let slimBerlin = try #require(Zone.load("Europe/Berlin", from: directory))
        #expect(civil(fromDays: floorDiv(slimBerlin.rules.ruleStart, 86400)).year < 2000)  // really slim

        let (from, to) = (Self.utc(1800, 1, 1), Self.utc(2200, 1, 1))
        var compared = 0
        var differing: [String] = []
        for name in try Self.allNames() {
            let slim = try #require(Zone.load(name, from: directory), "\(name)")
            let fat = try #require(Zone.named(name), "\(name)")
            #expect(slim.offset(at: from) == fat.offset(at: from), "\(name) in 1800")
            var cursor = from
            while cursor < to, let next = fat.nextTransition(after: cursor) {
                guard slim.nextTransition(after: cursor) == next, slim.offset(at: next) == fat.offset(at: next) else {
                    differing.append(name)
                    break
                }
                cursor = next
            }
            if cursor < to, !differing.contains(name), slim.nextTransition(after: cursor).map({ $0 < to }) == true {
                differing.append(name)
            }
            compared += 1
        }
        #expect(compared > 500)
        #expect(differing.count < 10, "\(differing)")

        // glibc reads the footers of these as we do, from 1970 to 2100: every rule form in use.
        let refereed = ZoneFoundationTests.zones.filter { $0 != "UTC" }
            + ["Asia/Jerusalem", "America/Nuuk", "America/Santiago", "America/Godthab", "Pacific/Fiji"] + differing
        for name in refereed {
            let slim = try #require(Zone.load(name, from: directory), "\(name)")
            let ours = ZoneFoundationTests.ourTransitions(slim).map { ($0, slim.offset(at: $0)) }
            let glibc = try Self.zdumpTransitions(directory + "/" + name)
            #expect(ours.map(\.0) == glibc.map(\.0), "\(name)")
            #expect(ours.map(\.1) == glibc.map(\.1), "\(name)")
        }
    }
}
