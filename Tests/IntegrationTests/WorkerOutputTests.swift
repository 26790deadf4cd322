import Foundation
import Testing
import TestSupport

@Suite("a worker's output outside journald (issue 16 item 7)")
struct WorkerOutputTests {
    @Test("a line that is a JSON object is relayed as fields of opsd's line, with its message and level; other lines as text")
    func structuredLines() async throws {
        let scratch = try Scratch()
        let script = try scratch.write("worker.py", #"""
            import json, sys, time
            print(json.dumps({"level": "error", "msg": "database down", "retry": 3, "ctx": {"db": "app"}, "worker": "mine"}))
            print('{"message": "no level here", "ok": true}')
            print("plain text {not json}")
            print("{ broken json")
            sys.stdout.flush()
            time.sleep(1000)
            """#)
        let config = try scratch.config(extra: """
            workers:
              - {name: logger, command: [python3, \(script)]}
            """)
        let daemon = try await Daemon(config: config, scratch: scratch)
        let output = { @Sendable (line: LogLine) in line.fields["worker"] == "logger" && line.fields["stream"] == "output" }

        let structured = try await daemon.logStream.first { output($0) && $0.message == "database down" }
        #expect(structured.level == "error")
        #expect(structured.fields["retry"] == "3")
        #expect(structured.fields["ctx"] == #"{"db":"app"}"#)
        // A key that is one of opsd's own fields keeps its value under another name.
        #expect(structured.fields["app_worker"] == "mine")
        #expect(structured.fields["msg"] == nil && structured.fields["level"] == nil)

        let noLevel = try await daemon.logStream.first { output($0) && $0.message == "no level here" }
        #expect(noLevel.level == "info")
        #expect(noLevel.fields["ok"] == "true")
        _ = try await daemon.logStream.first { output($0) && $0.message == "plain text {not json}" }
        _ = try await daemon.logStream.first { output($0) && $0.message == "{ broken json" }
    }
}
