import ProcessControl
import Testing

@Suite("a command's stdin")
struct CommandInputTests {
    @Test("input reaches the command's stdin whole and ends there; without input stdin is empty; more than a pipe holds is refused")
    func input() async throws {
        let runner = CommandRunner(spawner: DirectSpawner())
        let body = Array(String(repeating: "0123456789abcdef", count: 2048).utf8)  // 32 KiB
        let counted = try await runner.run(["/bin/sh", "-c", "wc -c"], input: body)
        #expect(counted.output.trimmingWhitespace() == "\(body.count)")
        let echoed = try await runner.run(["/bin/cat"], input: Array("{\"event\":\"job_failed\"}\n".utf8))
        #expect(echoed.output == "{\"event\":\"job_failed\"}\n")
        let empty = try await runner.run(["/bin/sh", "-c", "wc -c"])
        #expect(empty.output.trimmingWhitespace() == "0")
        await #expect(throws: CommandFailure.self) {
            _ = try await runner.run(["/bin/cat"], input: [UInt8](repeating: 65, count: CommandRunner.inputLimit + 1))
        }
    }
}

private extension String {
    func trimmingWhitespace() -> String { String(filter { !$0.isWhitespace }) }
}
