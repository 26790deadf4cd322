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
