import Testing
@testable import OpsConfig

/// Issue 16 item 6: what a `command:` list may say, for workers, jobs and check plugins.
@Suite("command lines")
struct CommandLineConfigTests {
    @Test("an empty argument is kept (redis-server --save \"\"), for workers, jobs and check plugins; only the program must be named")
    func emptyArguments() throws {
        let loaded = ConfigLoader.parse(yaml: """
            workers:
              - {name: redis, command: [redis-server, --save, ""]}
            jobs:
              - {name: blank, every: 1h, command: [/bin/echo, "", x]}
            checks:
              - {name: plugin, command: [/bin/echo, ""]}
            """, baseDirectory: "/etc/ops")
        #expect(loaded.diagnostics.isEmpty)
        #expect(loaded.configuration.workers.map(\.command) == [["redis-server", "--save", ""]])
        let job = try #require(loaded.configuration.jobs.first)
        guard case .command(let spec) = job.action else { Issue.record("not a command job: \(job.action)"); return }
        #expect(spec.command == ["/bin/echo", "", "x"])
        #expect(loaded.configuration.checks.first?.kind == .command(["/bin/echo", ""]))
    }

    @Test("the program itself must not be empty, and an argument must still be a value")
    func emptyProgram() {
        #expect(problems("workers:\n  - {name: w, command: [\"\", --save]}\n") == ["workers[0].command[0]: must not be empty (line 2)"])
        #expect(problems("workers:\n  - {name: w, command: []}\n") == ["workers[0].command: must name a program to run (line 2)"])
        #expect(problems("workers:\n  - name: w\n    command:\n      - /bin/true\n      -\n") == ["workers[0].command[1]: has no value (line 5)"])
    }

    @Test("a check plugin given as a path is relative to the config file's directory, a bare name stays a PATH lookup, and cwd: is a path too")
    func pluginPaths() {
        let loaded = ConfigLoader.parse(yaml: """
            checks:
              - {name: dotted, command: [./plugins/check_x, -w, "1"], cwd: work}
              - {name: nested, command: [plugins/check_x]}
              - {name: absolute, command: [/usr/lib/nagios/plugins/check_procs], cwd: /srv/app}
              - {name: bare, command: [check_procs, ./not/a/program]}
            """, baseDirectory: "/etc/ops")
        #expect(loaded.diagnostics.isEmpty)
        #expect(loaded.configuration.checks.map(\.kind) == [
            .command(["/etc/ops/plugins/check_x", "-w", "1"], cwd: "/etc/ops/work"),
            .command(["/etc/ops/plugins/check_x"]),
            .command(["/usr/lib/nagios/plugins/check_procs"], cwd: "/srv/app"),
            .command(["check_procs", "./not/a/program"]),
        ])
    }

    @Test("cwd: belongs to command checks only, and must name a directory")
    func cwdOnlyForPlugins() {
        #expect(problems("checks:\n  - {name: d, disk: /, cwd: /srv}\n") == ["checks[0].cwd: only applies to command checks (line 2)"])
        #expect(problems("checks:\n  - {name: p, command: [/bin/true], cwd: \"\"}\n") == ["checks[0].cwd: must not be empty (line 2)"])
    }
}
