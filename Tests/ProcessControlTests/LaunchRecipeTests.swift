import Foundation
@testable import ProcessControl
import TestSupport
import Testing

/// The one recipe every child of opsd is started by (workers, command jobs, plugins, hooks):
/// its environment, PATH, credentials, output and error rules, checked with real children.
@Suite("launch recipe")
struct LaunchRecipeTests {
    // The withheld secret names are EnvironmentTests' (process-wide state, set in one suite only).
    @Test("the child's environment: opsd's own variables stripped, the recipe's added on top, its own NOTIFY_SOCKET kept")
    func environment() {
        var opsd = ["PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "APP_MODE": "staging"]
        for key in EnvironmentTests.opsdOwn { opsd[key] = "opsd's" }
        // A notify worker gets a NOTIFY_SOCKET of its own: an addition is never stripped.
        let recipe = LaunchRecipe(command: ["app"], environment: ["APP_MODE": "production", "NOTIFY_SOCKET": "@workers"])
        let request = recipe.request(inheritingFrom: SpawnRequest.inheritedEnvironment(from: opsd))
        #expect(request.environment == ["PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "APP_MODE": "production", "NOTIFY_SOCKET": "@workers"])
        #expect(request.executable == "app")
        #expect(request.arguments == ["app"])
    }

    @Test("every field of the recipe reaches the request, and building it looks nothing up")
    func fields() {
        // An unknown user and a missing program are not errors yet: names are looked up where
        // the fork happens (the spawner thread in opsd), not by the code that builds the request.
        let recipe = LaunchRecipe(
            command: ["no-such-program-ops", "--flag"], environment: ["A": "1"], workingDirectory: "/srv/app",
            user: "ops-no-such-user", group: "ops-no-such-group", umask: 0o027, output: 42)
        let request = recipe.request(inheritingFrom: [:])
        #expect(request.executable == "no-such-program-ops")
        #expect(request.arguments == ["no-such-program-ops", "--flag"])
        #expect(request.environment == ["A": "1"])
        #expect(request.workingDirectory == "/srv/app")
        #expect(request.user == "ops-no-such-user" && request.group == "ops-no-such-group")
        #expect(request.umask == 0o027 && request.output == 42)
    }

    @Test("a bare program name is found along the child's PATH, not opsd's")
    func childsPath() async throws {
        try await withTemporaryDirectory { directory in
            let bin = directory + "/bin"
            try FileManager.default.createDirectory(atPath: bin, withIntermediateDirectories: false)
            // A link, not a script written here: a file this process had open for writing may be
            // held by a child another test forks meanwhile, and exec would fail with ETXTBSY.
            try FileManager.default.createSymbolicLink(atPath: bin + "/ops-pc-tool", withDestinationPath: "/bin/echo")
            // opsd's PATH does not have the directory; the recipe's PATH does.
            let request = LaunchRecipe(command: ["ops-pc-tool", "found"], environment: ["PATH": bin + ":/usr/bin:/bin"])
                .request(inheritingFrom: ["PATH": "/usr/bin:/bin"])
            let (status, output) = try await runToEnd(request, in: directory)
            #expect(status == .exited(0))
            #expect(output == "found\n")
        }
    }

    @Test("a program on no directory of the child's PATH is one error naming it and the PATH searched")
    func notOnPath() async throws {
        let request = LaunchRecipe(command: ["ops-pc-no-such-program"], environment: ["PATH": "/nonexistent:/usr/bin"]).request(inheritingFrom: [:])
        let error = try await startError(request)
        #expect(error.reason == .notOnPath("/nonexistent:/usr/bin"))
        #expect(error.isLookupFailure)
        #expect(error.description == "cannot start ops-pc-no-such-program: no executable file of that name on PATH (/nonexistent:/usr/bin); give its full path")
    }

    @Test("a path that is no executable file names the cause")
    func notExecutable() async throws {
        try await withTemporaryDirectory { directory in
            try writeScript(directory + "/plain", mode: 0o644)
            let error = try await startError(LaunchRecipe(command: [directory + "/plain"]).request(inheritingFrom: [:]))
            #expect(error.reason == .notExecutable(EACCES))
            #expect(error.description == "cannot start \(directory)/plain: Permission denied")
        }
    }

    @Test("an unknown user or group is one error naming it, and no process is started")
    func unknownNames() async throws {
        try await withTemporaryDirectory { directory in
            let marker = directory + "/ran"
            let command = ["/bin/sh", "-c", "touch \(marker)"]
            let user = try await startError(LaunchRecipe(command: command, user: "ops-no-such-user").request(inheritingFrom: [:]))
            #expect(user.reason == .unknownUser("ops-no-such-user"))
            #expect(user.description == "cannot start /bin/sh: there is no user \"ops-no-such-user\" on this host; create it or change `user:`")
            let group = try await startError(LaunchRecipe(command: command, user: "nobody", group: "ops-no-such-group").request(inheritingFrom: [:]))
            #expect(group.reason == .unknownGroup("ops-no-such-group"))
            #expect(group.description == "cannot start /bin/sh: there is no group \"ops-no-such-group\" on this host; create it or change `group:`")
            #expect(user.isLookupFailure && group.isLookupFailure)
            #expect(!FileManager.default.fileExists(atPath: marker))
        }
    }

    @Test("an empty command is an error, not a child")
    func emptyCommand() async throws {
        let error = try await startError(LaunchRecipe(command: []).request(inheritingFrom: [:]))
        #expect(error.reason == .emptyCommand)
        #expect(error.description == "cannot start an empty command; give the program and its arguments")
    }

    @Test("user and group by name reach the child", .enabled(if: getuid() == 0, "switching users needs root"))
    func credentials() async throws {
        try await withTemporaryDirectory { directory in
            let request = LaunchRecipe(command: ["sh", "-c", "id -u; id -g"], environment: ["PATH": "/usr/bin:/bin"], user: "nobody", group: "root")
                .request(inheritingFrom: [:])
            let (status, output) = try await runToEnd(request, in: directory)
            #expect(status == .exited(0))
            #expect(output == "65534\n0\n")
        }
    }

    @Test("the output descriptor is handed over: the spawner closes it, so the reader sees the end once the child is gone", .timeLimit(.minutes(1)))
    func outputHandedOver() async throws {
        var ends: [Int32] = [-1, -1]
        #expect(pipe(&ends) == 0)
        for end in ends { _ = fcntl(end, F_SETFD, FD_CLOEXEC) }
        let request = LaunchRecipe(command: ["/bin/echo", "hello"], output: ends[1]).request(inheritingFrom: [:])
        let latch = ExitLatch()
        _ = try await DirectSpawner().launch(request, onExit: latch.fire)
        #expect(await latch.wait() == .exited(0))
        // Only the end of file proves no copy of the write end is left in this process: were it
        // still open, this read would wait for ever (and the time limit fail the test).
        let text = await readToEnd(ends[0])
        #expect(text == "hello\n")
    }

    @Test("the output descriptor is closed when the start fails too", .timeLimit(.minutes(1)))
    func outputClosedOnFailure() async throws {
        var ends: [Int32] = [-1, -1]
        #expect(pipe(&ends) == 0)
        for end in ends { _ = fcntl(end, F_SETFD, FD_CLOEXEC) }
        _ = try await startError(LaunchRecipe(command: ["/bin/echo"], user: "ops-no-such-user", output: ends[1]).request(inheritingFrom: [:]))
        #expect(await readToEnd(ends[0]) == "")
    }
}

/// The error `DirectSpawner` throws for `request`; fails the test if it starts a child instead.
private func startError(_ request: SpawnRequest) async throws -> SpawnError {
    do {
        let pid = try await DirectSpawner().launch(request) { _ in }
        kill(-pid, SIGKILL)
        throw TestFailure("\(request.executable) was started (pid \(pid)), though it should not be")
    } catch let error as SpawnError {
        return error
    }
}

/// Reads `descriptor` to its end on a thread of its own, then closes it.
private func readToEnd(_ descriptor: Int32) async -> String {
    await withCheckedContinuation { continuation in
        Thread.detachNewThread {
            var bytes: [UInt8] = []
            var chunk = [UInt8](repeating: 0, count: 4096)
            while true {
                let count = read(descriptor, &chunk, chunk.count)
                if count > 0 { bytes += chunk[..<count]; continue }
                if count < 0, errno == EINTR { continue }
                break
            }
            close(descriptor)
            continuation.resume(returning: String(decoding: bytes, as: UTF8.self))
        }
    }
}
