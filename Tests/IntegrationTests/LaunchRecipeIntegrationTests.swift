import Foundation
import OpsAPI
import Testing
import TestSupport

/// Workers, command jobs and check plugins (alert hooks share the plugins' runner) are started by
/// one recipe (`ProcessControl.LaunchRecipe`): a program that is not found is the same sentence
/// in every one of them, looked up along the child's PATH and, for a user, on the spawner thread.
@Suite("one launch recipe for every child of opsd")
struct LaunchRecipeIntegrationTests {
    @Test("a missing program and an unknown user say the same sentence for a worker, a job and a check plugin")
    func sameSentence() async throws {
        let scratch = try Scratch()
        let config = try scratch.config(extra: """
            workers:
              - {name: lost, command: [ops-no-such-program], restart: {backoff: 1ms..1ms, burst: 3 in 1h}}
              - {name: stranger, command: [/bin/sleep, "1000"], user: ops-no-such-user, restart: {backoff: 1ms..1ms, burst: 3 in 1h}}
            jobs:
              - {name: lostjob, every: 1h, command: [ops-no-such-program]}
              - {name: strangerjob, every: 1h, command: [/bin/true], user: ops-no-such-user}
            checks:
              - {name: lostplugin, command: [ops-no-such-program], every: 1h}
            """)
        let missing = "cannot start ops-no-such-program: no executable file of that name on PATH (/usr/bin:/bin); give its full path"
        let noUser = "cannot start /bin/sleep: there is no user \"ops-no-such-user\" on this host; create it or change `user:`"
        // opsd's PATH is what every child inherits, unless the recipe adds its own.
        let daemon = try await Daemon(config: config, scratch: scratch, environment: ["PATH": "/usr/bin:/bin"])

        let lost = try await daemon.logStream.first { $0.message == "worker could not be started" && $0.fields["worker"] == "lost" }
        #expect(lost.fields["reason"] == missing)
        let stranger = try await daemon.logStream.first { $0.message == "worker could not be started" && $0.fields["worker"] == "stranger" }
        #expect(stranger.fields["reason"] == noUser)
        for name in ["lost", "stranger"] {
            _ = try await daemon.logStream.first { $0.message.hasPrefix("worker is fatal") && $0.fields["worker"] == name }
            let attempts = daemon.lines { $0.message == "worker could not be started" && $0.fields["worker"] == name }
            #expect(attempts.count == 3)
            #expect(Set(attempts.compactMap { $0.fields["reason"] }) == [name == "lost" ? missing : noUser])
            // Three attempts, but nothing was forked: no start counts, as before the lookups moved.
            let status = try await worker(name, config)
            #expect(status.state == .fatal)
            #expect(status.restarts == 0)
        }

        let plugin = try await daemon.logStream.first { $0.message == "check state changed" && $0.fields["check"] == "lostplugin" }
        #expect(plugin.fields["message"] == missing)

        for (name, sentence) in [("lostjob", missing), ("strangerjob", noUser.replacing("/bin/sleep", with: "/bin/true"))] {
            let result = try await run("opsctl", ["jobs", "run", name, "--json", "--config", config])
            let record = try WireJSON.decoder.decode(JobRunStatus.self, from: Data(result.stdout.utf8))
            #expect(record.result == .failed)
            #expect(record.message == sentence)
        }
        daemon.signal(SIGTERM)
        _ = await daemon.exitStatus()
    }
}
