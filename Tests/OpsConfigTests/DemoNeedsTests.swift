import Foundation
import Testing
import OpsConfig

/// `make demo` installs only `scripts/setup.sh build` (the build libraries, git and python3): the
/// demo must not need a program or a server from the test group (redis, sshd, prometheus, the
/// Nagios plugins), or it would fail on a host that has only what the demo installed.
@Suite("make demo needs only the build group")
struct DemoNeedsTests {
    /// Programs the demo may run: the shell (essential) and what `setup.sh build` installs.
    static let programs: Set<String> = ["/bin/sh", "python3"]

    @Test("the demo's checks run in opsd (no plugin, no Redis, only its own listener) and its workers and jobs run only sh and python3", .tags(.examples))
    func demoConfig() throws {
        let config = try ConfigLoader.load(path: "\(repositoryRoot)/examples/demo/ops.yaml")
        for check in config.checks {
            switch check.kind {
            case .command(let arguments, _):
                Issue.record("check \(check.name) runs \(arguments[0]): a plugin the demo's host does not have")
            case .queue(.redis):
                Issue.record("check \(check.name) needs a Redis server, which make demo does not install")
            case .http(let spec):
                let own = config.daemon.listen.map { "http://\($0)/" }
                #expect(own.map(spec.url.hasPrefix) == true, "check \(check.name) reaches \(spec.url), not opsd's own listener")
            default:
                break
            }
        }
        let commands = config.workers.map(\.command) + config.jobs.compactMap { job -> [String]? in
            if case .command(let spec) = job.action { return spec.command }
            return nil
        }
        for command in commands {
            #expect(Self.programs.contains(command[0]), "\(command[0]) is not installed by scripts/setup.sh build")
        }
    }

    @Test("make demo installs the build group, and the build group has python3 and git (the demo's backup remote)", .tags(.examples))
    func setupGroup() throws {
        let demo = try String(contentsOfFile: "\(repositoryRoot)/scripts/demo.sh", encoding: .utf8)
        #expect(demo.contains("scripts/setup.sh build\n"))
        let setup = try String(contentsOfFile: "\(repositoryRoot)/scripts/setup.sh", encoding: .utf8)
        let build = try #require(setup.split(separator: "\n").first { $0.hasPrefix("build=(") })
        let packages = Set(build.dropFirst("build=(".count).dropLast().split(separator: " ").map(String.init))
        #expect(packages.isSuperset(of: ["python3", "git"]), "\(packages)")
        for server in ["redis-server", "openssh-server", "prometheus", "monitoring-plugins-basic"] {
            #expect(!packages.contains(server), "\(server) is in the build group")
        }
    }
}
