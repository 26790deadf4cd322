import Backup
import BackupRecords
import Foundation
import OpsConfig
import Testing

/// A backup's starter reads back its own outcome by run id, whatever else was recorded meanwhile.
@Suite("Backup: each run's outcome under its own run id")
struct RunIDTests {
    @Test("two backups recording at about the same time, one committing and one failing, each find their own outcome")
    func concurrentRuns() async throws {
        let fixture = try Fixture()
        let other = try Fixture()
        // The second runner records into the first one's state database, and fails: its database
        // and files are gone (a missing database alone is a partial backup of the files).
        var broken = try other.configuration()
        broken.daemon.stateDirectory = fixture.stateDirectory
        try FileManager.default.removeItem(atPath: other.database)
        try FileManager.default.removeItem(atPath: other.directory + "/etc")
        let failing = try BackupRunner(configuration: broken, logger: .init(label: "test"))
        let committing = try fixture.runner()

        async let good = committing.run(runID: "run-good")
        async let bad: Bool = { do { _ = try await failing.run(runID: "run-bad"); return true } catch { return false } }()
        let outcome = try await good
        #expect(await bad == false, "a backup of a missing database succeeded")

        let history = try BackupHistory(stateDirectory: fixture.stateDirectory)
        let own = try #require(try await history.run(id: "run-good"))
        #expect(own.succeeded && own.commit == outcome.commit)
        let failed = try #require(try await history.run(id: "run-bad"))
        #expect(!failed.succeeded && failed.error?.contains(other.database) == true, "\(failed.error ?? "")")
        #expect(try await history.run(id: "never-ran") == nil)
    }
}
