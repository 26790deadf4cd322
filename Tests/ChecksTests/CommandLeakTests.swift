import Foundation
import Testing
import TestSupport
@testable import Checks
import OpsConfig

@Suite("a plugin that leaves a process holding its output")
struct CommandLeakTests {
    /// The pipe inode a process's stdout is, from /proc (`pipe:[123]`).
    private func stdoutPipe(of pid: Int32) -> String? {
        (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(pid)/fd/1")).flatMap { $0.hasPrefix("pipe:") ? $0 : nil }
    }

    /// What this test process's descriptors point to.
    private func ownDescriptorTargets() -> Set<String> {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd")) ?? []
        return Set(entries.compactMap { try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/fd/\($0)") })
    }

    /// Threads of this process that read plugin output.
    private func outputThreads() -> Int {
        let tasks = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/task")) ?? []
        return tasks.filter { (try? String(contentsOfFile: "/proc/self/task/\($0)/comm", encoding: .utf8))?.hasPrefix("opsd-plugin-out") == true }.count
    }

    @Test("each run returns with its result; no thread or pipe of ours stays behind with the escaped process", .timeLimit(.minutes(10)))
    func setsidChild() async throws {
        let scratch = try Scratch()
        defer { scratch.remove() }
        let pids = scratch.file("sleepers")
        // The plugin answers at once, but a child in a session of its own keeps its stdout. The
        // plugin exits only once the child has left its process group (it writes to a FIFO
        // after setsid), so the group kill after the exit cannot catch it.
        let plugin = try scratch.write("plugin.sh", """
            #!/bin/sh
            ready=\(scratch.path)/ready.$$
            mkfifo "$ready"
            setsid sh -c "echo ready > $ready; exec sleep 300" &
            echo $! >> \(pids)
            read line < "$ready"
            rm -f "$ready"
            echo 'LEAK OK - answered | runs=1'
            exit 0

            """)
        chmod(plugin, 0o755)
        var sleepers: [Int32] = []
        defer {
            for pid in sleepers { kill(pid, SIGKILL) }
        }
        let runs = 25
        for run in 1...runs {
            // A generous timeout: a run that hangs on the pipe shows as UNKNOWN instead of OK. Not
            // 20 s: when the whole suite starts at once, the executor the deadline and the result
            // share can be busy for that long, and the first run was judged late.
            let result = await runOnce(.command([plugin]), timeout: .seconds(120))
            #expect(result.state == .ok, "run \(run): \(result.message)")
            #expect(result.message == "LEAK OK - answered", "run \(run)")
        }
        let text = (try? String(contentsOfFile: pids, encoding: .utf8)) ?? ""
        sleepers = text.split(separator: "\n").compactMap { Int32($0) }
        #expect(sleepers.count == runs)
        // The sleepers still hold the pipes' write ends; none of their read ends is still ours.
        let pipes = Set(sleepers.compactMap(stdoutPipe))
        #expect(pipes.count == runs, "each sleeper still holds its run's pipe")
        #expect(ownDescriptorTargets().isDisjoint(with: pipes))
        // Other tests may be running a plugin at this moment, but not 25 of them.
        #expect(outputThreads() < 5)
    }
}
