import Testing
@testable import Jobs

@Suite("The scheduled backup's companion gets backup.remote.token_env, which opsd withholds from its other children")
struct BackupJobTokenTests {
    @Test("only the named variable is passed, and nothing when it is unset or not configured")
    func tokenForTheCompanion() {
        let environment = ["GIT_TOKEN": "secret", "OTHER": "x"]
        #expect(BackupJob.token("GIT_TOKEN", from: environment) == ["GIT_TOKEN": "secret"])
        #expect(BackupJob.token("MISSING", from: environment).isEmpty)
        #expect(BackupJob.token(nil, from: environment).isEmpty)
    }
}
