import Foundation
@testable import ProcessControl
import TestSupport

// Only `DirectSpawner` here, never `ChildProcesses`: its reaper waits for every child of the
// process (waitpid(-1)), and the test process runs every test target's tests, which wait for
// their own children.

/// A private temporary directory, removed afterwards.
func withTemporaryDirectory<T>(_ body: (String) async throws -> T) async throws -> T {
    var template = Array("/tmp/ops-pc-XXXXXX".utf8CString)
    guard let directory = mkdtemp(&template).map({ String(cString: $0) }) else { throw TestFailure("mkdtemp failed: \(String(cString: strerror(errno)))") }
    defer { try? FileManager.default.removeItem(atPath: directory) }
    return try await body(directory)
}

/// Runs `request` with `DirectSpawner`, its output into a file; returns how it ended and what it wrote.
func runToEnd(_ request: SpawnRequest, in directory: String) async throws -> (status: ExitStatus, output: String) {
    let path = directory + "/output-\(UUID().uuidString)"
    let descriptor = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
    guard descriptor >= 0 else { throw TestFailure("cannot create \(path): \(String(cString: strerror(errno)))") }
    var request = request
    request.output = descriptor  // handed over: the spawner closes it
    let latch = ExitLatch()
    _ = try await DirectSpawner().launch(request, onExit: latch.fire)
    let status = await latch.wait()
    return (status, try String(contentsOfFile: path, encoding: .utf8))
}

/// A shell script at `path`, with `mode`.
func writeScript(_ path: String, mode: mode_t = 0o755, _ text: String = "#!/bin/sh\nexit 0\n") throws {
    try text.write(toFile: path, atomically: false, encoding: .utf8)
    guard chmod(path, mode) == 0 else { throw TestFailure("chmod \(path): \(String(cString: strerror(errno)))") }
}

/// ProcessControl's, not Swift Testing's exit-test `ExitStatus`.
typealias ExitStatus = ProcessControl.ExitStatus
