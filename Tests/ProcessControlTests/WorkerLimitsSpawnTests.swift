import Foundation
@testable import ProcessControl
import Testing
import TestSupport

/// Issue 16 item 2: a worker's rlimits are set in the child before it execs, and a limit that
/// cannot be set is a start failure that says which and why.
@Suite("worker limits: rlimits in the child")
struct ResourceLimitSpawnTests {
    /// `Max open files  65536  65536  files` → ("65536", "65536"), by the row's name.
    private func limits(_ text: String) -> [String: (soft: String, hard: String)] {
        var rows: [String: (String, String)] = [:]
        for line in text.split(separator: "\n").dropFirst() {
            let name = String(line.prefix(26)).trimmingCharacters(in: .whitespaces)
            let values = line.dropFirst(26).split(separator: " ", omittingEmptySubsequences: true).map(String.init)
            if values.count >= 2 { rows[name] = (values[0], values[1]) }
        }
        return rows
    }

    // Limits below the test process's own hard ones: raising a hard limit needs CAP_SYS_RESOURCE,
    // which this machine's root lacks (see `rootRaisesHardLimit`).
    @Test("a real child reads its limits in /proc/self/limits: nofile 4096, core 0, nproc 256:512, memlock 1M:4M")
    func childSeesItsLimits() async throws {
        try await withTemporaryDirectory { directory in
            var request = SpawnRequest(executable: "/bin/cat", arguments: ["cat", "/proc/self/limits"], environment: [:])
            request.resourceLimits = [
                ChildResourceLimit(.nofile, soft: 4096, hard: 4096),
                ChildResourceLimit(.core, soft: 0, hard: 0),
                ChildResourceLimit(.nproc, soft: 256, hard: 512),
                ChildResourceLimit(.memlock, soft: 1 << 20, hard: 4 << 20),
            ]
            let (status, output) = try await runToEnd(request, in: directory)
            #expect(status == .exited(0))
            let rows = limits(output)
            #expect(rows["Max open files"]?.soft == "4096" && rows["Max open files"]?.hard == "4096", "\(output)")
            #expect(rows["Max core file size"]?.soft == "0" && rows["Max core file size"]?.hard == "0", "\(output)")
            #expect(rows["Max processes"]?.soft == "256" && rows["Max processes"]?.hard == "512", "\(output)")
            #expect(rows["Max locked memory"]?.soft == "1048576" && rows["Max locked memory"]?.hard == "4194304", "\(output)")
        }
    }

    @Test("with CAP_SYS_RESOURCE, nofile's hard limit rises above opsd's: 65536 soft and hard", .enabled(if: ChildResourceLimit.mayRaiseHardLimits, "needs CAP_SYS_RESOURCE, which this machine's root may lack (containers)"))
    func rootRaisesHardLimit() async throws {
        try await withTemporaryDirectory { directory in
            var request = SpawnRequest(executable: "/bin/cat", arguments: ["cat", "/proc/self/limits"], environment: [:])
            request.resourceLimits = [ChildResourceLimit(.nofile, soft: 65536, hard: 65536)]
            let (status, output) = try await runToEnd(request, in: directory)
            #expect(status == .exited(0))
            #expect(limits(output)["Max open files"]?.soft == "65536" && limits(output)["Max open files"]?.hard == "65536", "\(output)")
        }
    }

    @Test("a limit the child cannot set (nofile above opsd's own hard limit, or above fs.nr_open) fails the start with a sentence naming the key")
    func impossibleLimit() async throws {
        let most = try String(contentsOfFile: "/proc/sys/fs/nr_open", encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        let own = ChildResourceLimit(.nofile, soft: 0, hard: 0).currentHardLimit
        let privileged = ChildResourceLimit.mayRaiseHardLimits
        let above = try #require(privileged ? UInt64(most) : own) + 1
        var request = SpawnRequest(executable: "/bin/true", arguments: ["true"], environment: [:])
        request.resourceLimits = [ChildResourceLimit(.core, soft: 0, hard: 0), ChildResourceLimit(.nofile, soft: above, hard: above)]
        do {
            _ = try await DirectSpawner().launch(request) { _ in }
            Issue.record("a start with nofile \(above) succeeded")
        } catch {
            #expect(error.reason == .resourceLimit(ChildResourceLimit(.nofile, soft: above, hard: above), EPERM, opsdHardLimit: own))
            #expect(!error.isLookupFailure)
            if privileged {
                #expect(error.description == "cannot start /bin/true: limits: nofile \(above) is above the most the kernel allows (fs.nr_open = \(most)); lower it")
            } else {
                #expect(error.description == "cannot start /bin/true: limits: nofile \(above) is above opsd's own hard limit (\(above - 1)), which opsd may not raise; lower it, or raise opsd's (LimitNOFILE= in its unit)")
            }
        }
    }

    @Test("the message for an unprivileged opsd names its own hard limit and the unit's setting")
    func unprivilegedMessage() {
        let limit = ChildResourceLimit(.nofile, soft: 65536, hard: 65536)
        let text = limit.failure(EPERM, opsdHardLimit: 8192)
        if !ChildResourceLimit.mayRaiseHardLimits {
            #expect(text == "limits: nofile 65536 is above opsd's own hard limit (8192), which opsd may not raise; lower it, or raise opsd's (LimitNOFILE= in its unit)")
        }
        #expect(ChildResourceLimit(.core, soft: 0, hard: nil).failure(EINVAL, opsdHardLimit: nil) == "limits: core 0:infinity cannot be set: Invalid argument")
    }
}
