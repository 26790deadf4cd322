import Backup
import Foundation
import Testing
import TestSupport

/// A push into a remote given as a path, killed mid-way, leaves `tmp_pack_*`/`tmp_idx_*` in the
/// remote's `objects/pack`; no lock covers the remote, so only files nobody has written for an
/// hour go, and another host's push in progress keeps its own.
@Suite("Leftovers of a killed push in a path remote")
struct RemoteLeftoversTests {
    @Test("a backup removes the remote's temporary pack files older than the grace period and keeps fresh ones; git fsck stays clean")
    func staleTemporaryPacksInTheRemote() async throws {
        let fixture = try Fixture(rows: 500)
        try await fixture.usePathRemote()
        #expect(try await fixture.runner().run().push.state == .pushed)

        // What a push killed two hours ago left, and what another host's push is writing now.
        let pack = fixture.remote + "/objects/pack"
        let old = ["tmp_pack_Ab12Cd", "tmp_idx_Ab12Cd"].map { pack + "/" + $0 }
        let fresh = ["tmp_pack_Xy34Zw", "tmp_idx_Xy34Zw"].map { pack + "/" + $0 }
        for path in old + fresh {
            #expect(FileManager.default.createFile(atPath: path, contents: Data(repeating: 0x50, count: 4096)))
        }
        let twoHoursAgo = timeval(tv_sec: time(nil) - 2 * 3600, tv_usec: 0)
        for path in old {
            #expect(utimes(path, [twoHoursAgo, twoHoursAgo]) == 0)
        }

        try fixture.churn(0.01)
        let second = try await fixture.runner().run()
        #expect(second.push.state == .pushed, "\(second.push.error ?? "")")
        for path in old { #expect(!FileManager.default.fileExists(atPath: path), "\(path) outlived the grace period") }
        for path in fresh { #expect(FileManager.default.fileExists(atPath: path), "\(path) may still be written by another push") }

        // The planted fresh files are the test's own, not a pack: without them the remote is a
        // clean repository whose branch is the local one.
        for path in fresh { unlink(path) }
        let fsck = try await fixture.git(["fsck", "--strict", "--no-dangling"], in: fixture.remote)
        #expect(fsck.status == 0 && fsck.stdout.isEmpty, "\(fsck.stdout)\n\(fsck.stderr)")
        let branch = BackupPlan.hostName()
        let local = try await fixture.git(["rev-parse", branch])
        let remote = try await fixture.git(["rev-parse", branch], in: fixture.remote)
        #expect(local.status == 0 && local.stdout == remote.stdout)
    }
}
