import Foundation
import Testing
import TestSupport
@testable import Checks
import OpsConfig
import StateStore
import Synchronization

@Suite("disk and memory")
struct DiskMemoryTests {
    @Test("used % of / matches check_disk's (monitoring-plugins) within one point")
    func diskMatchesCheckDisk() async throws {
        let ours = try DiskCheck.usage(of: "/")
        let plugin = try await environment.commands.run(["/usr/lib/nagios/plugins/check_disk", "-w", "1%", "-c", "1%", "-p", "/"])
        // "DISK OK - free space: / 51234 MiB (45.67% inode=98%);| …": the percentage is free space.
        let match = try #require(plugin.output.firstMatch(of: /\(([0-9.]+)% inode/), "\(plugin.output)")
        let free = try #require(Double(match.1))
        #expect(abs(ours.usedPercent - (100 - free)) <= 1, "ours \(ours.usedPercent), check_disk \(100 - free)")
    }

    @Test("a disk check reports the worst of several paths and applies % thresholds")
    func diskThresholds() async throws {
        let usage = try DiskCheck.usage(of: "/")
        let low = await runOnce(.disk(paths: ["/", "/tmp"]), warn: "0%", crit: "100%")
        #expect(low.state == (max(usage.usedPercent, usage.inodesUsedPercent) > 0 ? .warn : .ok))
        #expect(low.unit == "percent")
        #expect(low.metrics.map(\.label).contains("/ avail"))
        let high = await runOnce(.disk(paths: ["/"]), warn: "99.99%", crit: "100%")
        #expect(high.state == .ok || usage.usedPercent > 99.99)
    }

    @Test("a disk check of a missing path is UNKNOWN with the reason")
    func diskMissing() async {
        let result = await runOnce(.disk(paths: ["/no/such/path"]))
        #expect(result.state == .unknown)
        #expect(result.message.contains("/no/such/path") && result.message.contains("No such file"))
    }

    @Test("memory use is MemAvailable-based, and a cgroup limit counts when it is tighter")
    func memoryFromFixtures() async throws {
        let scratch = try Scratch()
        defer { scratch.remove() }
        let meminfo = try scratch.write("meminfo", """
            MemTotal:       1000000 kB
            MemFree:         100000 kB
            MemAvailable:    600000 kB
            SwapTotal:       200000 kB
            SwapFree:        150000 kB
            """)
        let host = try await MemoryCheck(meminfo: meminfo, cgroupDirectory: nil).observe(deadline: .now + .seconds(5))
        #expect(host.value == 40)
        #expect(host.metrics.first { $0.label == "swap" }?.value == 25)
        try FileManager.default.createDirectory(atPath: scratch.file("cg"), withIntermediateDirectories: true)
        try scratch.write("cg/memory.max", "1000\n")
        try scratch.write("cg/memory.current", "900\n")
        try scratch.write("cg/memory.stat", "anon 500\ninactive_file 200\n")
        let limited = try await MemoryCheck(meminfo: meminfo, cgroupDirectory: scratch.file("cg")).observe(deadline: .now + .seconds(5))
        #expect(limited.value == 70)
        try scratch.write("cg/memory.max", "max\n")
        let unlimited = try await MemoryCheck(meminfo: meminfo, cgroupDirectory: scratch.file("cg")).observe(deadline: .now + .seconds(5))
        #expect(unlimited.value == 40)
    }

    @Test("the real host's memory check runs")
    func memoryReal() async {
        let result = await runOnce(.memory, warn: "100%")
        #expect(result.state == .ok)
        #expect((0...100).contains(result.value ?? -1))
    }
}

@Suite("command checks run real Nagios plugins")
struct CommandCheckTests {
    @Test("check_procs: a process that must exist and does not is CRIT; init exists")
    func checkProcs() async {
        let missing = await runOnce(.command(["/usr/lib/nagios/plugins/check_procs", "-c", "1:", "-C", "no-such-proc-xyz"]))
        #expect(missing.state == .crit)
        #expect(missing.message.hasPrefix("PROCS CRITICAL"))
        let any = await runOnce(.command(["/usr/lib/nagios/plugins/check_procs", "-w", "1:", "-c", "1:"]))
        #expect(any.state == .ok)
        #expect(any.metrics.first?.label == "procs")
    }

    @Test("check_disk: exit code and performance data are kept")
    func checkDisk() async {
        let result = await runOnce(.command(["/usr/lib/nagios/plugins/check_disk", "-w", "1%", "-c", "1%", "-p", "/"]))
        #expect(result.state == .ok)
        #expect(result.message.hasPrefix("DISK OK"))
        #expect(result.metrics.first?.label == "/")
        #expect(result.metrics.first?.unit == "B")  // monitoring-plugins 2.3 reports bytes
    }

    @Test("a plugin printing garbage with exit 7 is UNKNOWN, keeps what parses, and the message is printable")
    func garbage() async {
        let result = await runOnce(.command(["\(fixtures)/garbage_plugin.sh"]))
        #expect(result.state == .unknown)
        #expect(result.message.hasPrefix("\(fixtures)/garbage_plugin.sh exited 7: garbage"))
        #expect(!result.message.unicodeScalars.contains { $0.value < 0x20 })
        #expect(result.metrics == [PerfDatum(label: "ok", value: 3, unit: "s", warn: "1", crit: "2")])
    }

    @Test("a plugin that overruns its timeout is UNKNOWN and its process group is killed")
    func timeout() async throws {
        let scratch = try Scratch()
        defer { scratch.remove() }
        let pidFile = scratch.file("pid")
        let result = await runOnce(.command(["/bin/sh", "-c", "echo $$ > \(pidFile); sleep 60 & wait"]), timeout: .milliseconds(500))
        #expect(result.state == .unknown)
        #expect(result.message == "did not finish within its timeout of 500ms")
        let pid = try #require(Int32((try String(contentsOfFile: pidFile, encoding: .utf8)).trimmingCharacters(in: .whitespacesAndNewlines)))
        try await eventually("the plugin's group is gone") { kill(-pid, 0) != 0 ? true : nil }
    }

    @Test("a missing plugin is UNKNOWN with a sentence saying so")
    func missingPlugin() async {
        let result = await runOnce(.command(["/usr/lib/nagios/plugins/check_nothing"]))
        #expect(result.state == .unknown)
        #expect(result.message == "cannot start /usr/lib/nagios/plugins/check_nothing: No such file or directory")
    }

    @Test("performance data: quoted labels, units, empty and missing fields")
    func perfdata() {
        let parsed = PerfDatum.parseAll("'my disk'=10.5MB;20;30;0;100 time=0.002s;;;0 'it''s'=3 bad=x c=5c")
        #expect(parsed == [
            PerfDatum(label: "my disk", value: 10.5, unit: "MB", warn: "20", crit: "30", min: 0, max: 100),
            PerfDatum(label: "time", value: 0.002, unit: "s", min: 0),
            PerfDatum(label: "it's", value: 3),
            PerfDatum(label: "c", value: 5, unit: "c"),
        ])
        #expect(parsed[0].text == "'my disk'=10.5MB;20;30;0;100")
        #expect(parsed[1].text == "time=0.002s;;;0")
        #expect(PerfDatum.parseAll(parsed.map(\.text).joined(separator: " ")) == parsed)
    }
}

@Suite("spool and SQL queues")
struct LocalQueueTests {
    @Test("a spool directory: count, age of the oldest file, dotfiles skipped")
    func spool() async throws {
        let scratch = try Scratch()
        defer { scratch.remove() }
        let spool = scratch.file("spool")
        try FileManager.default.createDirectory(atPath: spool, withIntermediateDirectories: true)
        for name in ["a.msg", "b.msg", "c.msg", ".incoming.tmp"] { try "x".write(toFile: "\(spool)/\(name)", atomically: false, encoding: .utf8) }
        let fresh = await runOnce(.queue(.spool(directory: spool, warnAge: .seconds(600), critAge: .seconds(3600))), warn: "10")
        #expect(fresh.state == .ok)
        #expect(fresh.value == 3)
        // Age one file by 20 minutes: the count is fine, the age is not.
        var times = [timeval(tv_sec: time(nil) - 1200, tv_usec: 0), timeval(tv_sec: time(nil) - 1200, tv_usec: 0)]
        #expect(utimes("\(spool)/b.msg", &times) == 0)
        let stale = await runOnce(.queue(.spool(directory: spool, warnAge: .seconds(600), critAge: .seconds(3600))), warn: "10")
        #expect(stale.state == .warn)
        #expect(stale.message.contains("3 files waiting, the oldest for 20m"))
        #expect((1199...1260).contains(stale.metrics.first { $0.label == "oldest" }?.value ?? 0))
        let counted = await runOnce(.queue(.spool(directory: spool, warnAge: nil, critAge: nil)), warn: "1", crit: "2")
        #expect(counted.state == .crit)
    }

    @Test("a missing spool directory is UNKNOWN")
    func spoolMissing() async {
        let result = await runOnce(.queue(.spool(directory: "/no/such/spool", warnAge: nil, critAge: nil)))
        #expect(result.state == .unknown)
        #expect(result.message.hasPrefix("cannot list the spool directory /no/such/spool"))
    }

    @Test("a SQLite jobs table: the count query's number against warn/crit")
    func sqlCount() async throws {
        let scratch = try Scratch()
        defer { scratch.remove() }
        let path = scratch.file("jobs.db")
        let database = try Database(path: path)
        try database.execute("CREATE TABLE jobs (id INTEGER PRIMARY KEY, done INTEGER NOT NULL)")
        try database.transaction { for index in 0..<150 { try database.run("INSERT INTO jobs (done) VALUES (?)", index < 30 ? 1 : 0) } }
        let query = "SELECT count(*) FROM jobs WHERE done = 0"
        let result = await runOnce(.queue(.sqlite(path: path, query: query)), warn: "100", crit: "1000")
        #expect(result.state == .warn)
        #expect(result.value == 120)
        let bad = await runOnce(.queue(.sqlite(path: path, query: "SELECT count(*) FROM nope")))
        #expect(bad.state == .unknown)
        #expect(bad.message.contains("no such table: nope"))
    }
}

@Suite("sqlite database checks")
struct SQLiteCheckTests {
    @Test("a database under concurrent writes is OK, with sizes and a custom query's value")
    func concurrentWrites() async throws {
        let scratch = try Scratch()
        defer { scratch.remove() }
        let path = scratch.file("app.db")
        let setup = try Database(path: path)
        try setup.execute("PRAGMA journal_mode = WAL; CREATE TABLE events (id INTEGER PRIMARY KEY, payload TEXT)")
        let stop = Flag()
        // The writer loops until told to stop: on a thread of its own, not on the cooperative pool
        // (two threads here) that every other test running beside this one needs.
        let writer = Task {
            await onNewThread {
                Result { () throws -> Int in
                    let database = try Database(path: path)
                    var written = 0
                    while !stop.isSet {
                        try database.transaction { for _ in 0..<50 { try database.run("INSERT INTO events (payload) VALUES (hex(randomblob(64)))") } }
                        written += 50
                    }
                    return written
                }
            }
        }
        var results: [CheckResult] = []
        for _ in 0..<5 {
            results.append(await runOnce(.sqlite(SQLiteCheckSpec(path: path, query: "SELECT count(*) FROM events")), crit: "~:100000000"))
        }
        stop.set()
        let written = try await writer.value.get()
        #expect(written > 0)
        #expect(results.allSatisfy { $0.state == .ok }, "\(results.map(\.message))")
        #expect(results.last?.message.hasPrefix("quick_check ok, query returned") == true)
        #expect(results.last?.metrics.map(\.label) == ["value", "latency", "size", "wal", "freelist"])
        #expect((results.last?.value ?? 0) > 0)
    }

    @Test("a corrupted copy fails quick_check: CRIT")
    func corrupted() async throws {
        let scratch = try Scratch()
        defer { scratch.remove() }
        let path = scratch.file("good.db")
        let database = try Database(path: path)
        try database.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT); CREATE INDEX t_v ON t(v)")
        try database.transaction { for index in 0..<5000 { try database.run("INSERT INTO t (v) VALUES (?)", "value \(index)") } }
        #expect(await runOnce(.sqlite(SQLiteCheckSpec(path: path))).state == .ok)
        // Overwrite pages in the middle of the file (not the header) with noise.
        let copy = scratch.file("bad.db")
        var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
        for offset in stride(from: 8192, to: min(bytes.count, 8192 * 6), by: 1) { bytes[offset] = UInt8(truncatingIfNeeded: offset &* 31) }
        try Data(bytes).write(to: URL(fileURLWithPath: copy))
        let result = await runOnce(.sqlite(SQLiteCheckSpec(path: copy)))
        #expect(result.state == .crit, "\(result.message)")
    }

    @Test("a missing database file is CRIT, not created")
    func missing() async throws {
        let result = await runOnce(.sqlite(SQLiteCheckSpec(path: "/tmp/no-such-dir-ops/app.db")))
        #expect(result.state == .crit)
        #expect(result.message == "/tmp/no-such-dir-ops/app.db: No such file or directory")
        #expect(!FileManager.default.fileExists(atPath: "/tmp/no-such-dir-ops/app.db"))
    }
}

/// A flag one task sets and another reads.
final class Flag: Sendable {
    private let value = Mutex(false)
    var isSet: Bool { value.withLock { $0 } }
    func set() { value.withLock { $0 = true } }
}
