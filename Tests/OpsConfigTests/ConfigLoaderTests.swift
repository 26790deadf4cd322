import Foundation
import Testing
@testable import OpsConfig
import Scheduling

/// The repository root, found from this file's location so tests run from any directory.
let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path

/// Parses `yaml` as if it were a file in /etc/ops and returns its diagnostics as text.
func problems(_ yaml: String) -> [String] {
    ConfigLoader.parse(yaml: yaml, baseDirectory: "/etc/ops").diagnostics.map(\.description)
}

@Suite("Shipped configurations")
struct ShippedConfigTests {
    @Test("the reference config is valid and says what the design says", .tags(.examples))
    func reference() throws {
        let config = try ConfigLoader.load(path: "\(repositoryRoot)/examples/ops.yaml")
        #expect(config.daemon.socket == "/run/ops/opsd.sock")
        #expect(config.workers.map(\.name) == ["app"])
        #expect(config.workers[0].restart.backoff == DurationRange(lowerBound: .seconds(1), upperBound: .seconds(60)))
        #expect(config.workers[0].restart.burst == BurstLimit(count: 5, window: .seconds(60)))
        #expect(config.checks.map(\.kind.key) == ["disk", "memory", "sqlite", "sqlite", "queue", "queue", "http", "http", "queue", "command", "backup"])
        #expect(config.checks.first { $0.name == "app-health" }?.restart == CheckRestart(worker: "app", after: 5))
        #expect(config.checks[0].warn == .percent(80))
        #expect(config.checks[1].every == .seconds(30))
        #expect(config.backup?.schedule == .calendar(CalendarTrigger(try CronExpression("0 0 * * *"), zone: try #require(Zone.named("Europe/Berlin")))))
        #expect(config.alerts.map(\.name) == ["chat", "pager", "mail"])
        #expect(config.alerts[0].format == .slack && config.alerts[0].repeatInterval == .seconds(4 * 3600))
        #expect(config.alerts[1].subjects.checks?.map(\.text) == ["app-*", "root-disk"])
    }

    @Test("the demo config is valid and keeps every path inside the repository", .tags(.examples))
    func demo() throws {
        let config = try ConfigLoader.load(path: "\(repositoryRoot)/examples/demo/ops.yaml")
        let demoDirectory = "\(repositoryRoot)/examples/demo"
        #expect(config.daemon.socket == "\(demoDirectory)/run/opsd.sock")
        #expect(config.daemon.stateDirectory == "\(demoDirectory)/run/state")
        #expect(config.backup?.repository == "\(demoDirectory)/run/backup.git")
        #expect(config.backup?.remote?.url == "\(demoDirectory)/run/remote.git")
        #expect(config.backup?.files == ["\(demoDirectory)/ops.yaml"])
    }
}

extension Tag {
    @Tag static var examples: Self
}

@Suite("Broken configurations are refused with a message naming key and line")
struct BrokenConfigTests {
    @Test("a bad duration names the key, the value, the fix and the line")
    func badDuration() {
        #expect(problems("""
            checks:
              - name: disk
                disk: /
                every: 60
            """) == [#"checks[0].every: "60" is not a duration; add a unit, e.g. 60s (line 4)"#])
        #expect(problems("checks: [{name: d, disk: /, every: soon}]") == [
            #"checks[0].every: "soon" is not a duration; write it as e.g. 500ms, 30s, 10m, 2h or 1h30m (line 1)"#,
        ])
    }

    @Test("an unknown key is an error, with the likely meant key")
    func unknownKey() {
        #expect(problems("""
            daemon:
              sockett: /run/x.sock
            """) == [#"daemon.sockett: unknown key; did you mean "socket"? expected one of: socket, state_dir, listen, log_level (line 2)"#])
        #expect(problems("deamon: {}") == [
            #"deamon: unknown key; did you mean "daemon"? expected one of: daemon, workers, checks, jobs, backup, alerts (line 1)"#,
        ])
    }

    @Test("a value of the wrong type says what was expected and what was found")
    func wrongType() {
        #expect(problems("workers: {name: app}") == [#"workers: expected a list (lines starting with "- "), found a mapping (line 1)"#])
        #expect(problems("""
            checks:
              - name: disk
                disk: /
                warn: eighty
            """) == [#"checks[0].warn: "eighty" is not a threshold; write a number (100), a percentage (80%) or a Nagios range (10:, ~:50, @10:20) (line 4)"#])
        #expect(problems("workers: [{name: app, command: [a], notify: yes}]") == [
            #"workers[0].notify: "yes" is not a boolean; write true or false (line 1)"#,
        ])
        #expect(problems("workers: [{name: app, command: python main.py}]") == [
            "workers[0].command: give the command as a list, e.g. [python, main.py]; opsd runs it directly, without a shell (line 1)",
        ])
    }

    @Test("a missing required field is named")
    func missingField() {
        #expect(problems("""
            workers:
              - command: [/bin/true]
            backup:
              databases: [app.db]
            """) == [
                "workers[0].name: is required but missing (line 2)",
                "backup.repository: is required but missing (line 4)",
            ])
    }

    @Test("every problem in a file is reported at once, in line order")
    func allProblemsAtOnce() {
        let found = problems("""
            daemon:
              log_level: loud
            workers:
              - name: app
                command: [/srv/app/run]
                restart: {policy: sometimes, backoff: 60s..1s}
              - name: app
                command: [/srv/app/other]
            checks:
              - name: two-things
                disk: /
                memory: {}
              - name: web
                http: ftp://example.com
                expect: {status: 700}
            backup:
              repository: /var/lib/ops/backup.git
              remote: {url: "https://me:hunter2@example.com/repo.git"}
              schedule: "every night"
              timezone: Mars/Olympus
            """)
        #expect(found == [
            #"daemon.log_level: "loud" is not one of: trace, debug, info, notice, warning, error, critical (line 2)"#,
            #"workers[0].restart.policy: "sometimes" is not one of: always, on-failure, never (line 6)"#,
            #"workers[0].restart.backoff: "60s..1s" is not a delay range; write e.g. 1s..60s (the first delay, then the largest) (line 6)"#,
            #"workers[1].name: "app" is already the name of workers[0]; names must be unique (line 7)"#,
            "checks[0]: has disk and memory; a check measures one thing, so split it into 2 checks (line 10)",
            #"checks[1].http: "ftp://example.com" is not an http:// or https:// URL (line 14)"#,
            "backup.remote.url: contains a password; remove it from the URL and give the token by token_file (a file) or token_env (a variable of opsd's environment) (line 18)",
            "backup.schedule: a cron expression has 5 fields (minute hour day-of-month month day-of-week), this has 2; check it with `opsctl schedule preview 'every night'` (line 19)",
            #"backup.timezone: "Mars/Olympus" is not a time zone in /usr/share/zoneinfo; use an IANA name such as Europe/Berlin or UTC (line 20)"#,
        ])
        // The password itself never appears in any message.
        #expect(!found.joined().contains("hunter2"))
    }

    @Test("YAML syntax errors and duplicate keys carry their line")
    func syntax() {
        #expect(problems("daemon:\n  socket: [unclosed\n") .count == 1)
        #expect(problems("daemon:\n  socket: [unclosed\n")[0].hasPrefix("is not valid YAML:"))
        #expect(problems("daemon:\n  socket: a\n  socket: b\n") == [
            #"the key "socket" appears more than once in the mapping that starts here; keep one (line 2)"#,
        ])
    }

    @Test("anchors and aliases share a block between workers; an alias without its anchor is an error with its line")
    func anchors() {
        let result = ConfigLoader.parse(yaml: """
            workers:
              - {name: a, command: [run-a], environment: &common {APP_ENV: production, LOG: info}}
              - {name: b, command: [run-b], environment: *common}
            """, baseDirectory: "/etc/ops")
        #expect(result.diagnostics.isEmpty, "\(result.diagnostics)")
        #expect(result.configuration.workers.map(\.environment) == [["APP_ENV": "production", "LOG": "info"], ["APP_ENV": "production", "LOG": "info"]])
        #expect(problems("workers:\n  - {name: a, command: [x], environment: *nowhere}\n") == [
            "the alias *nowhere names no anchor (&nowhere) before it (line 2)",
        ])
    }

    @Test("a second document and absurd nesting are refused with their line, never ignored or crashed on")
    func documentShape() {
        #expect(problems("daemon: {socket: /run/x.sock}\n---\nworkers: []\n") == [
            "holds a second YAML document (after ---); keep the whole configuration in one (line 2)",
        ])
        let deep = "daemon: " + String(repeating: "[", count: 100_000) + String(repeating: "]", count: 100_000) + "\n"
        #expect(problems(deep) == ["nests lists and mappings more than 64 levels deep; a configuration never needs that (line 1)"])
        // A document marker before the one document is fine.
        #expect(problems("---\ndaemon: {socket: /run/x.sock}\n") == [])
    }

    @Test("the top level must be a mapping")
    func topLevel() {
        #expect(problems("- a\n- b\n") == [
            "the top level must be a mapping with the sections daemon, workers, checks, jobs, backup, alerts, found a list (line 1)",
        ])
    }

    @Test("a socket path longer than sockaddr_un allows is refused")
    func longSocket() {
        let long = "/" + String(repeating: "s", count: 120)
        #expect(problems("daemon: {socket: \(long)}") == [
            "daemon.socket: is 121 bytes long, but opsd can bind unix socket paths of at most 103 bytes; choose a shorter path (line 1)",
        ])
    }
}

@Suite("Files that are not configs")
struct ConfigFileTests {
    let directory: String

    init() throws {
        directory = NSTemporaryDirectory() + "ops-config-tests-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    }

    func write(_ name: String, _ bytes: [UInt8]) -> String {
        let path = "\(directory)/\(name)"
        _ = FileManager.default.createFile(atPath: path, contents: Data(bytes))
        return path
    }

    func error(loading path: String) -> String? {
        do {
            _ = try ConfigLoader.load(path: path)
            return nil
        } catch {
            return error.description
        }
    }

    @Test("a missing file")
    func missing() {
        #expect(error(loading: "\(directory)/nope.yaml") ==
            "\(directory)/nope.yaml: no such file; start from the starter config (deploy/ops.yaml in the source, installed as /etc/ops/ops.yaml) or the commented reference (examples/ops.yaml, installed in /usr/share/doc/opsd/examples/ by the package, /usr/local/share/doc/opsd/examples/ by make install), or pass --config PATH")
    }

    @Test("a directory instead of a file")
    func directoryInsteadOfFile() {
        #expect(error(loading: directory) ==
            "\(directory): is a directory, not a config file; pass the YAML file itself, e.g. \(directory)/ops.yaml")
    }

    @Test("an empty file and a file of only comments")
    func empty() {
        let expected = "the file is empty; start from the starter config (deploy/ops.yaml) or the commented reference (examples/ops.yaml, installed in /usr/share/doc/opsd/examples/ by the package, /usr/local/share/doc/opsd/examples/ by make install)"
        #expect(error(loading: write("empty.yaml", [])) == "\(directory)/empty.yaml: \(expected)")
        #expect(error(loading: write("comments.yaml", Array("# nothing here\n\n".utf8))) == "\(directory)/comments.yaml: \(expected)")
    }

    @Test("a file that is not UTF-8 names the offset and line")
    func notUTF8() {
        let path = write("latin1.yaml", Array("daemon:\n  socket: /run/caf".utf8) + [0xE9] + Array(".sock\n".utf8))
        #expect(error(loading: path) == "\(path): is not UTF-8 text (invalid byte at offset 26); save it as UTF-8 (line 2)")
    }

    @Test("relative paths are resolved against the config file's directory")
    func relativePaths() throws {
        let path = write("ops.yaml", Array("daemon: {socket: run/opsd.sock, state_dir: ../state}\n".utf8))
        let config = try ConfigLoader.load(path: path)
        #expect(config.daemon.socket == "\(directory)/run/opsd.sock")
        #expect(config.daemon.stateDirectory == (directory as NSString).deletingLastPathComponent + "/state")
    }

    @Test("a file with errors still yields what could be read, for callers that need one setting")
    func bestEffort() {
        let path = write("partial.yaml", Array("daemon: {socket: /tmp/x.sock}\nworkers: nonsense\n".utf8))
        let result = ConfigLoader.read(path: path)
        #expect(result.diagnostics.count == 1)
        #expect(result.configuration.daemon.socket == "/tmp/x.sock")
    }
}

@Suite("Value forms")
struct UnitTests {
    @Test("durations", arguments: [
        ("500ms", Duration.milliseconds(500)), ("30s", .seconds(30)), ("10m", .seconds(600)),
        ("2h", .seconds(7200)), ("1d", .seconds(86400)), ("1h30m", .seconds(5400)), ("1.5s", .milliseconds(1500)),
    ])
    func durations(text: String, expected: Duration) {
        #expect(DurationText.parse(text) == expected)
    }

    @Test("things that are not durations", arguments: ["", "60", "s", "10 m", "-5s", "0s", "5y", "1h30"])
    func notDurations(text: String) {
        #expect(DurationText.parse(text) == nil)
    }

    @Test("durations format the way the config writes them")
    func formatting() {
        #expect(DurationText.format(.seconds(5400)) == "1h30m")
        #expect(DurationText.format(.milliseconds(250)) == "250ms")
        #expect(DurationText.format(.seconds(86400 + 61)) == "1d1m1s")
    }

    @Test("thresholds")
    func thresholds() {
        #expect(Threshold.parse("80%") == .percent(80))
        #expect(Threshold.parse("80 %") == .percent(80))
        #expect(Threshold.parse("1000") == .number(1000))
        #expect(Threshold.parse("101%") == nil)
        #expect(Threshold.parse("eighty") == nil)
        #expect(Threshold.percent(80).description == "80%")
    }

    @Test("ranges and bursts")
    func rangesAndBursts() {
        #expect(DurationRange.parse("1s..60s") == DurationRange(lowerBound: .seconds(1), upperBound: .seconds(60)))
        #expect(DurationRange.parse("5s") == DurationRange(lowerBound: .seconds(5), upperBound: .seconds(5)))
        #expect(DurationRange.parse("60s..1s") == nil)
        #expect(BurstLimit.parse("5 in 60s") == BurstLimit(count: 5, window: .seconds(60)))
        #expect(BurstLimit.parse("5 per 60s") == nil)
    }

    @Test("scp-like remotes are not local paths")
    func remoteKinds() {
        #expect(ConfigParser.isLocalPath("backups/remote.git"))
        #expect(ConfigParser.isLocalPath("/srv/remote.git"))
        #expect(!ConfigParser.isLocalPath("git@github.com:me/app.git"))
        #expect(!ConfigParser.isLocalPath("ssh://git@host/repo.git"))
    }
}
