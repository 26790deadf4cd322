import Foundation
@testable import ProcessControl
import Testing

@Suite("PATH resolution")
struct ResolveTests {
    @Test("a bare name is found in the first directory of the search path that has it executable")
    func searchPath() async throws {
        try await withTemporaryDirectory { directory in
            let first = directory + "/first", second = directory + "/second"
            for path in [first, second] { try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: false) }
            try writeScript(second + "/tool")
            try writeScript(first + "/data", mode: 0o644)
            try writeScript(second + "/data")
            let searchPath = "\(directory)/missing:\(first):\(second)"
            #expect(located("tool", searchPath: searchPath) == second + "/tool")
            // Not executable in the first directory: the next one's is taken.
            #expect(located("data", searchPath: searchPath) == second + "/data")
            try writeScript(first + "/tool")
            #expect(located("tool", searchPath: searchPath) == first + "/tool")
            #expect(located("nothing-by-this-name", searchPath: searchPath) == nil)
        }
    }

    @Test("a name with a slash is used as given, if executable; no search path means the system's")
    func pathsAndDefault() async throws {
        try await withTemporaryDirectory { directory in
            try writeScript(directory + "/run")
            try writeScript(directory + "/plain", mode: 0o644)
            #expect(located(directory + "/run", searchPath: "/nonexistent") == directory + "/run")
            #expect(located(directory + "/plain", searchPath: nil) == nil)
            #expect(located(directory + "/missing", searchPath: nil) == nil)
            // Without PATH: /usr/local/bin:/usr/bin:/bin, as execvp's default.
            #expect(located("env", searchPath: nil) == "/usr/bin/env")
            #expect(located("run", searchPath: nil) == nil)
        }
    }
}

/// Where `program` is found along `searchPath` (the child's PATH); nil when it is not.
private func located(_ program: String, searchPath: String?) -> String? {
    try? SpawnRequest(executable: program, arguments: [program], environment: searchPath.map { ["PATH": $0] } ?? [:]).executablePath()
}

/// The ids a request for `user` and `group` runs with; nil when either is unknown.
private func credentials(user: String?, group: String?) -> Credentials? {
    let request = SpawnRequest(executable: "/bin/true", arguments: ["true"], environment: [:], user: user, group: group)
    return try? request.ids()
}

@Suite("credentials")
struct CredentialsTests {
    @Test("a user gives its uid and primary group; a group overrides the group; neither switches nothing")
    func lookup() throws {
        // No switch at all keeps opsd's ids and its supplementary groups, as before.
        #expect(try SpawnRequest(executable: "/bin/true", arguments: ["true"], environment: [:]).ids() == nil)
        let inGroup = try #require(credentials(user: nil, group: "nogroup"))
        #expect(inGroup.uid == getuid() && inGroup.gid == 65534)
        let nobody = try #require(credentials(user: "nobody", group: nil))
        #expect(nobody.uid == 65534 && nobody.gid == 65534)
        let rootInNogroup = try #require(credentials(user: "root", group: "nogroup"))
        #expect(rootInNogroup.uid == 0 && rootInNogroup.gid == 65534)
        // The supplementary groups are the user's, as initgroups gives them (the group first);
        // a group alone clears them.
        #expect(nobody.groups == [65534])
        #expect(rootInNogroup.groups.first == 65534)
        #expect(inGroup.groups == [])
    }

    @Test("an unknown user or group gives nil, not opsd's ids")
    func unknown() {
        #expect(credentials(user: "ops-no-such-user", group: nil) == nil)
        #expect(credentials(user: nil, group: "ops-no-such-group") == nil)
        #expect(credentials(user: "nobody", group: "ops-no-such-group") == nil)
    }

    @Test("a child started with nobody's credentials runs as nobody", .enabled(if: getuid() == 0, "switching users needs root"))
    func childRunsAsNobody() async throws {
        try await withTemporaryDirectory { directory in
            let request = SpawnRequest(executable: "/bin/sh", arguments: ["sh", "-c", "id -u; id -g; id -G"], environment: ["PATH": "/usr/bin:/bin"], user: "nobody")
            let (status, output) = try await runToEnd(request, in: directory)
            #expect(status == .exited(0))
            // No supplementary groups of opsd's are kept (root's group 0 would be).
            #expect(output == "65534\n65534\n65534\n")
        }
    }
}

@Suite("how children end")
struct ExitStatusTests {
    @Test("exit codes and signals of real children")
    func realChildren() async throws {
        try await withTemporaryDirectory { directory in
            let exited = try await runToEnd(SpawnRequest(executable: "/bin/sh", arguments: ["sh", "-c", "exit 3"], environment: [:]), in: directory)
            #expect(exited.status == .exited(3))
            #expect(!exited.status.isSuccess)
            #expect(exited.status.description == "exit 3")

            let killed = try await runToEnd(SpawnRequest(executable: "/bin/sh", arguments: ["sh", "-c", "kill -KILL $$"], environment: [:]), in: directory)
            #expect(killed.status == .signaled(9))
            #expect(killed.status.description == "signal 9 (KILL)")

            let fine = try await runToEnd(SpawnRequest(executable: "/bin/true", arguments: ["true"], environment: [:]), in: directory)
            #expect(fine.status.isSuccess)
        }
    }

    @Test("wait statuses decode as the W* macros do", arguments: [
        (Int32(0), ExitStatus.exited(0)), (0x0300, .exited(3)), (0xff00, .exited(255)),
        (9, .signaled(9)), (0x8b, .signaled(11)),  // 0x80: a core was dumped
    ])
    func decode(_ raw: Int32, _ expected: ExitStatus) {
        #expect(ExitStatus(waitStatus: raw) == expected)
    }

    @Test("a signal without a short name is described by its number")
    func unnamedSignal() {
        #expect(ExitStatus.signaled(31).description == "signal 31")
    }

    @Test("a program that cannot be started is an error naming it and the cause, not an exit status")
    func cannotStart() async throws {
        await #expect {
            _ = try await DirectSpawner().launch(SpawnRequest(executable: "/nonexistent/program", arguments: ["program"], environment: [:])) { _ in }
        } throws: { error in
            guard let error = error as? SpawnError else { return false }
            return error.reason == .notExecutable(ENOENT) && error.description == "cannot start /nonexistent/program: No such file or directory"
        }
    }

    @Test("an exit latch delivers the status whether it fires before or after the wait")
    func latch() async {
        let early = ExitLatch()
        early.fire(.exited(1))
        #expect(early.hasFired)
        #expect(await early.wait() == .exited(1))

        let late = ExitLatch()
        async let status = late.wait()
        late.fire(.signaled(15))
        #expect(await status == .signaled(15))
    }
}
