import Testing
@testable import OpsConfig

/// What `config check` passes, opsd must be able to run: each of these was accepted once and then
/// failed at start (exit 1), spun a core, or took a minute to read.
@Suite("Configs opsd could not run are refused up front")
struct RunnableConfigTests {
    @Test("a socket path longer than opsd can bind is refused; the longest it can bind passes")
    func socketLength() {
        let directory = "/run/" + String(repeating: "d", count: 60)
        let longest = directory + "/" + String(repeating: "s", count: DaemonSettings.maximumSocketPathLength - directory.utf8.count - 1)
        #expect(longest.utf8.count == 103)
        #expect(problems("daemon: {socket: \(longest)}") == [])
        #expect(problems("daemon: {socket: \(longest)x}") == [
            "daemon.socket: is 104 bytes long, but opsd can bind unix socket paths of at most 103 bytes; choose a shorter path (line 1)",
        ])
        // The workers' notify socket is in the abstract namespace, so a deep directory costs nothing.
        let deep = "/" + String(repeating: "d", count: 95) + "/s"
        #expect(problems("daemon: {socket: \(deep)}") == [])
    }

    @Test("listen: takes an IP address or localhost and a port; anything opsd cannot bind is refused", arguments: [
        ("127.0.0.1:9110", nil),
        ("0.0.0.0:80", nil),
        ("[::1]:9110", nil),
        ("[::]:9110", nil),
        ("localhost:9110", nil),
        ("::1:9110", #""::1" is not an IP address opsd can listen on; an IPv6 address goes in brackets, e.g. [::1]:9110"#),
        ("example.com:80", #""example.com" is not an IP address opsd can listen on; write e.g. 127.0.0.1:9110, [::1]:9110 or 0.0.0.0:9110 (every interface)"#),
        ("1.2.3.4.5:80", #""1.2.3.4.5" is not an IP address opsd can listen on; write e.g. 127.0.0.1:9110, [::1]:9110 or 0.0.0.0:9110 (every interface)"#),
        ("127.0.0.1:9110:1", #""127.0.0.1:9110" is not an IP address opsd can listen on; write e.g. 127.0.0.1:9110, [::1]:9110 or 0.0.0.0:9110 (every interface)"#),
        ("[127.0.0.1]:80", #""[127.0.0.1]" is not an IP address opsd can listen on; write e.g. 127.0.0.1:9110, [::1]:9110 or 0.0.0.0:9110 (every interface)"#),
        ("127.0.0.1:99999", #""127.0.0.1:99999" is not a host:port address with a port from 1 to 65535; write e.g. 127.0.0.1:9110, [::1]:9110 or 0.0.0.0:9110 (every interface)"#),
        ("127.0.0.1:0", #""127.0.0.1:0" is not a host:port address with a port from 1 to 65535; write e.g. 127.0.0.1:9110, [::1]:9110 or 0.0.0.0:9110 (every interface)"#),
        (":9110", #""" is not an IP address opsd can listen on; write e.g. 127.0.0.1:9110, [::1]:9110 or 0.0.0.0:9110 (every interface)"#),
    ] as [(String, String?)])
    func listen(text: String, problem: String?) {
        let found = problems("daemon: {listen: \"\(text)\"}")
        #expect(found == (problem.map { ["daemon.listen: \($0) (line 1)"] } ?? []))
    }

    @Test("backup.remote.branch follows git's rules for branch names; {hostname} stays valid")
    func branch() {
        func branchProblems(_ branch: String) -> [String] {
            problems("backup: {repository: /var/lib/ops/b.git, remote: {url: /srv/r.git, branch: \"\(branch)\"}}")
        }
        for good in ["{hostname}", "backups/{hostname}", "main", "host-{hostname}_1", "release/2026.01"] {
            #expect(branchProblems(good) == [], "\(good)")
        }
        let bad = [
            ("a..b", "contains \"..\""), ("two words", "contains \" \", which git does not allow in a branch name"),
            ("-x", "starts with \"-\", which git would read as an option"), ("x.lock", "has a component ending with \".lock\" (x.lock)"),
            ("@", "is \"@\", which git reserves for HEAD"), ("a/", "has an empty path component (a leading, trailing or double \"/\")"),
            ("a//b", "has an empty path component (a leading, trailing or double \"/\")"), ("a/.b", "has a component starting with \".\" (.b)"),
            ("x.", "ends with \".\""), ("a@{1}", "contains \"@{\""), ("a:b", "contains \":\", which git does not allow in a branch name"),
            ("a*", "contains \"*\", which git does not allow in a branch name"), ("{hostname}~1", "contains \"~\", which git does not allow in a branch name"),
        ]
        for (branch, problem) in bad {
            #expect(branchProblems(branch) == [
                "backup.remote.branch: \"\(branch)\" \(problem); use letters, digits, \"-\", \"_\", \"/\" and {hostname} (line 1)",
            ])
        }
    }

    @Test("two databases stored under the same name in the backup are refused at the second")
    func databaseNames() {
        #expect(problems("""
            backup:
              repository: /var/lib/ops/backup.git
              databases:
                - /srv/app/data.db
                - {path: /srv/other/data.sqlite}
                - /srv/app/data.db
                - /srv/app/tickets.db
            """) == [
                #"backup.databases[1].path: /srv/other/data.sqlite would be stored as "data" in the backup, like /srv/app/data.db; rename one of the files (the name is the file name without its extension) (line 5)"#,
                "backup.databases[2]: /srv/app/data.db is listed twice; keep one (line 6)",
            ])
        #expect(BackupSpec.repositoryName(ofDatabase: "/srv/app/tickets.db") == "tickets")
        #expect(BackupSpec.repositoryName(ofDatabase: "/srv/app/a.b.db") == "a.b")
        #expect(BackupSpec.repositoryName(ofDatabase: "/srv/app/.db") == "db.db")
        #expect(BackupSpec.repositoryName(ofDatabase: "/srv/app/sp ace.db") == "sp_ace")
    }

    @Test("a repeated name points at the repeated name: key path and line")
    func duplicateNames() {
        #expect(problems("""
            workers:
              - {name: web, command: [a]}
              - {name: web, command: [b]}
            checks:
              - {name: root, disk: /}
              - name: root
                memory: {}
            """) == [
                #"workers[1].name: "web" is already the name of workers[0]; names must be unique (line 3)"#,
                #"checks[1].name: "root" is already the name of checks[0]; names must be unique (line 6)"#,
            ])
    }

    @Test("every: shorter than the minimum is refused for checks and jobs, even when it rounds to zero")
    func minimumIntervals() {
        #expect(problems("checks: [{name: d, disk: /, every: 0.0000000001s}]") == [
            #"checks[0].every: "0.0000000001s" is shorter than the shortest interval, 100ms; run it at most that often (line 1)"#,
        ])
        #expect(problems("checks: [{name: d, disk: /, every: 99ms}]").count == 1)
        #expect(problems("checks: [{name: d, disk: /, every: 100ms}]") == [])
        #expect(problems("jobs: [{name: j, every: 500ms, command: [x]}]") == [
            #"jobs[0].every: "500ms" is shorter than the shortest interval, 1s; run it at most that often (line 1)"#,
        ])
        #expect(problems("jobs: [{name: j, every: 1s, command: [x]}]") == [])
    }

    @Test("aliases that expand past the node limit are refused with the alias's line; ordinary anchors still work")
    func aliasExpansion() {
        // Nine levels of ten aliases each: 10⁹ nodes from 1 KB of text.
        var lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
        for level in 1...9 {
            let previous = "*a\(level - 1)"
            lines.append("a\(level): &a\(level) [\(Array(repeating: previous, count: 10).joined(separator: ", "))]")
        }
        let bomb = "workers:\n  - name: w\n    command: [x]\n    environment:\n" + lines.map { "      " + $0 }.joined(separator: "\n") + "\n"
        let found = problems(bomb)
        #expect(found.count == 1)
        #expect(found.first?.hasPrefix("expands to more than 100000 values through its aliases (*name); a configuration never needs that many") == true)
        // A large file without aliases is not blamed on them.
        let wide = "workers: [" + Array(repeating: "x", count: 100_001).joined(separator: ",") + "]\n"
        #expect(problems(wide).first?.hasPrefix("holds more than 100000 values") == true)
        // Shared blocks used many times are fine.
        var config = "workers:\n  - {name: base, command: [x], environment: &env {A: 1, B: 2, C: 3}}\n"
        for index in 0..<200 { config += "  - {name: w\(index), command: [x], environment: *env}\n" }
        let result = ConfigLoader.parse(yaml: config, baseDirectory: "/etc/ops")
        #expect(result.diagnostics.isEmpty, "\(result.diagnostics)")
        #expect(result.configuration.workers.count == 201)
        #expect(result.configuration.workers.last?.environment == ["A": "1", "B": "2", "C": "3"])
    }
}
