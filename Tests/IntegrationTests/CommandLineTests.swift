import Foundation
import OpsAPI
import Testing
import TestSupport

/// Issue 16 item 6: command lines as written reach the process, for jobs and check plugins.
@Suite("command lines reach the process")
struct CommandLineTests {
    @Test("a job run by opsd receives an empty argument as an argument of its own")
    func emptyArgument() async throws {
        let scratch = try Scratch()
        let out = "\(scratch.path)/args.out"
        let config = try scratch.config(extra: """
            jobs:
              - {name: blank, every: 1h, command: [/bin/sh, -c, 'printf "%s:[%s][%s]" "$#" "$1" "$2" > \(out)', sh, "", after]}
            """)
        let daemon = try await Daemon(config: config, scratch: scratch)
        let result = try await run("opsctl", ["jobs", "run", "blank", "--json", "--config", config])
        #expect(result.status == 0)
        let record = try WireJSON.decoder.decode(JobRunStatus.self, from: Data(result.stdout.utf8))
        #expect(record.result == .ok)
        #expect(try String(contentsOfFile: out, encoding: .utf8) == "2:[][after]")
        daemon.signal(SIGTERM)
        _ = await daemon.exitStatus()
    }
}

/// Issue 16 item 6: a check plugin beside the config file is found from wherever opsctl runs.
@Suite("check plugins beside the config")
struct PluginPathTests {
    @Test("opsctl health runs ./plugins/check_cwd from the config's directory, in its cwd:, whatever opsctl's own directory")
    func relativePlugin() async throws {
        let scratch = try Scratch()
        try FileManager.default.createDirectory(atPath: "\(scratch.path)/plugins", withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: "\(scratch.path)/work", withIntermediateDirectories: true)
        let plugin = try scratch.write("plugins/check_cwd", "#!/bin/sh\necho \"OK - in $(pwd)\"\n")
        #expect(chmod(plugin, 0o755) == 0)
        let config = try scratch.config(extra: """
            checks:
              - {name: here, command: [./plugins/check_cwd], cwd: work}
              - {name: nested, command: [plugins/check_cwd]}
            """)
        #expect(FileManager.default.currentDirectoryPath != scratch.path)
        let result = try await run("opsctl", ["health", "--config", config])
        #expect(result.status == 0, "\(result.stderr)")
        let rows = result.stdout.split(separator: "\n").map { $0.split(separator: " ", omittingEmptySubsequences: true).joined(separator: " ") }
        #expect(rows.contains("here command OK - now OK - in \(scratch.path)/work"), "\(result.stdout)")
        // Without cwd: the plugin runs where opsctl runs; found all the same.
        #expect(rows.contains("nested command OK - now OK - in \(FileManager.default.currentDirectoryPath)"), "\(result.stdout)")
    }
}

/// Issue 16 item 6: `environment_file:`, as systemd's `EnvironmentFile=`.
@Suite("environment files reach workers")
struct EnvironmentFileIntegrationTests {
    @Test("a worker gets the variables of its environment_file, read again at a reload, and opsd never logs them")
    func workerReadsFile() async throws {
        let scratch = try Scratch()
        _ = try scratch.write("app.env", "# the app's secrets\nTOKEN=\"s3cret one\"\n")
        let config = try scratch.config(extra: """
            workers:
              - {name: app, command: [/bin/sh, -c, 'echo "token=$TOKEN"; exec sleep 1000'], environment_file: [app.env, -absent.env]}
            """)
        let daemon = try await Daemon(config: config, scratch: scratch)
        _ = try await daemon.logStream.first { $0.fields["worker"] == "app" && $0.message == "token=s3cret one" }

        let mark = daemon.logStream.count
        _ = try scratch.write("app.env", "TOKEN=s3cret two\n")
        let reload = try await run("opsctl", ["reload", "--config", config])
        #expect(reload.status == 0, "\(reload.stderr)")
        _ = try await daemon.logStream.first(after: mark) { $0.fields["worker"] == "app" && $0.message == "token=s3cret two" }

        daemon.signal(SIGTERM)
        _ = await daemon.exitStatus()
        // Only the worker's own output carries the value; none of opsd's lines does.
        let leaks = daemon.log.split(separator: "\n").filter { $0.contains("s3cret") && !$0.contains("token=s3cret") }
        #expect(leaks.isEmpty, "\(leaks)")
    }

    @Test("environment: values from {file:} and {env:} reach the worker that names them, and no other child")
    func referencedValues() async throws {
        let scratch = try Scratch()
        _ = try scratch.write("db-password", "pa55 word\nsecond line is not part of it\n")
        let config = try scratch.config(extra: """
            workers:
              - {name: app, command: [/bin/sh, -c, 'echo "db=$DB_PASSWORD api=$API"; exec sleep 1000'],
                 environment: {DB_PASSWORD: {file: db-password}, API: {env: OPS_TEST_API_KEY}}}
              - {name: other, command: [/bin/sh, -c, 'echo "other api=${OPS_TEST_API_KEY-unset}"; exec sleep 1000']}
            """)
        let daemon = try await Daemon(config: config, scratch: scratch, environment: ["OPS_TEST_API_KEY": "k3y"])
        _ = try await daemon.logStream.first { $0.fields["worker"] == "app" && $0.message == "db=pa55 word api=k3y" }
        // opsd's own variable, read for one worker's entry, is withheld from every other child.
        _ = try await daemon.logStream.first { $0.fields["worker"] == "other" && $0.message == "other api=unset" }
        // opsctl does not run with opsd's environment: the config is valid all the same.
        let check = try await run("opsctl", ["config", "check", config])
        #expect(check.status == 0, "\(check.stdout)\(check.stderr)")
    }

    @Test("an {env:} value whose variable opsd lacks fails the worker's start with a sentence saying what to do")
    func missingVariable() async throws {
        let scratch = try Scratch()
        let config = try scratch.config(extra: """
            workers:
              - {name: app, command: [sleep, "1000"], environment: {API: {env: OPS_TEST_NEVER_SET}}, restart: {policy: never}}
            """)
        let daemon = try await Daemon(config: config, scratch: scratch)
        let failed = try await daemon.logStream.first { $0.message == "worker could not be started" && $0.fields["worker"] == "app" }
        #expect(failed.fields["reason"] == "environment.API reads OPS_TEST_NEVER_SET from opsd's environment, which does not have it; set it for opsd (Environment= or EnvironmentFile= in a drop-in of opsd.service) or use {file: PATH}")
        let start = try await run("opsctl", ["workers", "start", "app", "--config", config])
        #expect(start.status == 1)
        #expect(start.stderr.contains("did not reach running: environment.API reads OPS_TEST_NEVER_SET"), "\(start.stderr)")
    }
}
