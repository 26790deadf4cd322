import Backup
import Foundation
import Testing
import TestSupport

@Suite("docs/backup-format.md describes the repository the code writes")
struct FormatDocumentTests {
    @Test("the by-hand restore script in the format document rebuilds a delta backup exactly")
    func documentedScriptRestoresADeltaBackup() async throws {
        let document = try String(contentsOfFile: repositoryRoot + "/docs/backup-format.md", encoding: .utf8)
        let start = try #require(document.range(of: "```python\n"))
        let end = try #require(document.range(of: "```", range: start.upperBound..<document.endIndex))
        let fixture = try Fixture()
        let script = fixture.directory + "/restore.py"
        try String(document[start.upperBound..<end.lowerBound]).write(toFile: script, atomically: true, encoding: .utf8)

        let runner = try fixture.runner()
        _ = try await runner.run()
        try fixture.churn(0.02, seed: 7)
        let second = try await runner.run()
        #expect(second.databases.first?.layout == .delta, "the script must be tested on a delta, not only on chunks")

        let target = fixture.directory + "/by-hand.db"
        let result = try await run("/usr/bin/python3", [script, fixture.repository, "HEAD", "app", target])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(try fixture.rows(target) == fixture.rows(fixture.database))
    }
}
