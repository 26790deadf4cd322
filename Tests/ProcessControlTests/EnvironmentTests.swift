import Foundation
@testable import ProcessControl
import Testing

/// What a child inherits of opsd's environment. Serialized: the withheld names are process-wide.
@Suite("children's environment", .serialized)
struct EnvironmentTests {
    /// opsd's own: systemd's notify, watchdog, socket activation and journal variables.
    static let opsdOwn = ["NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID", "LISTEN_FDS", "LISTEN_PID", "LISTEN_FDNAMES", "JOURNAL_STREAM", "INVOCATION_ID"]

    @Test("opsd's systemd variables are stripped; everything else is passed on unchanged")
    func opsdVariablesStripped() {
        var environment = ["PATH": "/usr/bin:/bin", "HOME": "/var/lib/ops", "LANG": "C.UTF-8", "APP_MODE": "production"]
        for key in Self.opsdOwn { environment[key] = "opsd's" }
        #expect(SpawnRequest.inheritedEnvironment(from: environment) == ["PATH": "/usr/bin:/bin", "HOME": "/var/lib/ops", "LANG": "C.UTF-8", "APP_MODE": "production"])
    }

    @Test("the names the configuration takes secrets from are withheld, and only while they are named")
    func secretsWithheld() {
        let environment = ["PATH": "/usr/bin", "OPS_PC_TEST_API_TOKEN": "s3cret", "OPS_PC_TEST_DB_PASSWORD": "hunter2"]
        SpawnRequest.withholdFromChildren(["OPS_PC_TEST_API_TOKEN", "OPS_PC_TEST_DB_PASSWORD"])
        #expect(SpawnRequest.inheritedEnvironment(from: environment) == ["PATH": "/usr/bin"])
        // A reload that no longer names a variable passes it on again.
        SpawnRequest.withholdFromChildren(["OPS_PC_TEST_DB_PASSWORD"])
        #expect(SpawnRequest.inheritedEnvironment(from: environment) == ["PATH": "/usr/bin", "OPS_PC_TEST_API_TOKEN": "s3cret"])
        SpawnRequest.withholdFromChildren([])
        #expect(SpawnRequest.inheritedEnvironment(from: environment) == environment)
    }

    @Test("a real child sees exactly the environment it was given, without opsd's variables or withheld secrets")
    func childSeesInheritedEnvironment() async throws {
        try await withTemporaryDirectory { directory in
            SpawnRequest.withholdFromChildren(["OPS_PC_TEST_API_TOKEN"])
            defer { SpawnRequest.withholdFromChildren([]) }
            var environment = ["PATH": "/usr/bin:/bin", "APP_MODE": "production", "OPS_PC_TEST_API_TOKEN": "s3cret"]
            for key in Self.opsdOwn { environment[key] = "opsd's" }
            let request = SpawnRequest(executable: "/usr/bin/env", arguments: ["env"], environment: SpawnRequest.inheritedEnvironment(from: environment))
            let (status, output) = try await runToEnd(request, in: directory)
            #expect(status == .exited(0))
            #expect(Set(output.split(separator: "\n").map(String.init)) == ["PATH=/usr/bin:/bin", "APP_MODE=production"])
        }
    }
}
