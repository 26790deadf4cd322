import Backup
import Foundation
import Synchronization
import Testing
import TestSupport

@Suite("Restore in place: owner and mode kept, unique safety copies, never a missing file, only configured databases", .serialized)
struct RestoreSafetyTests {
    @Test("the restored database keeps the live file's owner, group and mode")
    func keepsOwnerAndMode() async throws {
        let fixture = try Fixture()
        _ = try await fixture.runner().run()
        try fixture.churn(0.02)
        #expect(chown(fixture.database, 65534, 65534) == 0, "the test runs as root")
        #expect(chmod(fixture.database, 0o640) == 0)
        let outcome = try await fixture.runner().restore(RestoreRequest(force: true))
        var info = stat()
        #expect(stat(fixture.database, &info) == 0)
        #expect(info.st_uid == 65534 && info.st_gid == 65534, "owner \(info.st_uid):\(info.st_gid)")
        #expect(info.st_mode & 0o7777 == 0o640, "mode \(String(info.st_mode & 0o7777, radix: 8))")
        #expect(outcome.databases.first?.safetyCopy != nil)
    }

    @Test("back-to-back restores: a reader polling the live path never finds it missing or empty, and every safety copy is kept")
    func backToBackRestores() async throws {
        let fixture = try Fixture(rows: 2_000)
        _ = try await fixture.runner().run()
        let original = try await fixture.sha256(fixture.database)
        let runner = try fixture.runner()
        let stop = Atomic<Bool>(false)
        let missing = Atomic<Int>(0)
        let empty = Atomic<Int>(0)
        let looks = Atomic<Int>(0)
        let path = fixture.database
        let reader = Thread {
            while !stop.load(ordering: .acquiring) {
                let fd = open(path, O_RDONLY | O_CLOEXEC)
                if fd < 0 {
                    if errno == ENOENT { missing.add(1, ordering: .relaxed) }
                    continue
                }
                var info = stat()
                if fstat(fd, &info) == 0, info.st_size == 0 { empty.add(1, ordering: .relaxed) }
                close(fd)
                looks.add(1, ordering: .relaxed)
            }
        }
        reader.start()
        var copies: [String] = []
        for _ in 0..<15 {
            let outcome = try await runner.restore(RestoreRequest(force: true))
            copies.append(try #require(outcome.databases.first?.safetyCopy))
        }
        stop.store(true, ordering: .releasing)
        #expect(missing.load(ordering: .relaxed) == 0, "the live path was missing \(missing.load(ordering: .relaxed)) times")
        #expect(empty.load(ordering: .relaxed) == 0, "the live path was empty \(empty.load(ordering: .relaxed)) times")
        #expect(looks.load(ordering: .relaxed) > 0)
        #expect(Set(copies).count == 15, "every restore kept its own safety copy: \(copies)")
        for copy in copies { #expect(FileManager.default.fileExists(atPath: copy), "\(copy) was overwritten or removed") }
        // The first safety copy is still the data that was live before the first restore.
        #expect(try await fixture.sha256(copies[0]) == original)
    }

    @Test("a backup whose database is not configured is refused in place, and restores only with --to")
    func unconfiguredDatabaseRefused() async throws {
        let fixture = try Fixture()
        _ = try await fixture.runner().run()
        let victim = fixture.directory + "/victim.conf"
        try "precious\n".write(toFile: victim, atomically: true, encoding: .utf8)
        try await forge(fixture, copying: "app", as: "victim", edit: "m['name'] = 'victim'; m['source'] = '\(victim)'")
        let refused = try await fixture.opsctl(["restore", "--db", "victim", "--force"])
        #expect(refused.status == 1)
        #expect(refused.stderr.contains("\"victim\" (from \(victim)) is not in backup.databases, so it is not restored in place; restore it elsewhere with --to"), "\(refused.stderr)")
        #expect(try String(contentsOfFile: victim, encoding: .utf8) == "precious\n")
        let all = try await fixture.opsctl(["restore", "--force"])
        #expect(all.status == 1, "a restore of every database refuses before replacing any")
        #expect(try String(contentsOfFile: victim, encoding: .utf8) == "precious\n")

        let elsewhere = fixture.directory + "/elsewhere.db"
        let to = try await fixture.opsctl(["restore", "--db", "victim", "--to", elsewhere])
        #expect(to.status == 0, "\(to.stderr)")
        #expect(try fixture.rows(elsewhere) == fixture.rows(fixture.database))
    }

    @Test("a manifest naming another path restores to the configured database, never to that path")
    func forgedSourceIgnored() async throws {
        let fixture = try Fixture()
        _ = try await fixture.runner().run()
        let backedUp = try fixture.rows(fixture.database)
        try fixture.churn(0.02)
        let victim = fixture.directory + "/victim.conf"
        try "precious\n".write(toFile: victim, atomically: true, encoding: .utf8)
        try await forge(fixture, copying: "app", as: "app", edit: "m['source'] = '\(victim)'")
        let restore = try await fixture.opsctl(["restore", "--force"])
        #expect(restore.status == 0, "\(restore.stderr)")
        #expect(try String(contentsOfFile: victim, encoding: .utf8) == "precious\n")
        #expect(try fixture.rows(fixture.database) == backedUp)
    }

    @Test("a manifest that claims 1 TiB is refused before any file is written", arguments: ["full", "delta"])
    func hugeClaimRefused(kind: String) async throws {
        let fixture = try Fixture()
        _ = try await fixture.runner().run()
        if kind == "delta" {
            try fixture.churn(0.01)
            #expect(try await fixture.runner().run().databases.first?.layout == .delta)
        }
        let live = try await fixture.sha256(fixture.database)
        let tib = 1 << 40
        let edit = kind == "full"
            ? "m['size'] = \(tib)"
            : "m['size'] = \(tib); m['deltas'][-1]['size'] = \(tib)"
        try await forge(fixture, copying: "app", as: "app", edit: edit)
        let restore = try await fixture.opsctl(["restore", "--force"])
        #expect(restore.status == 1)
        #expect(restore.stderr.contains("claims \(tib) bytes"), "\(restore.stderr)")
        #expect(restore.stderr.contains("restore from another commit with --at"))
        #expect(try await fixture.sha256(fixture.database) == live)
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: fixture.directory).filter { $0.contains(".restore-") }
        #expect(leftovers.isEmpty, "no temporary file was created: \(leftovers)")
        let elsewhere = try await fixture.opsctl(["restore", "--to", fixture.directory + "/x.db"])
        #expect(elsewhere.status == 1)
        #expect(!FileManager.default.fileExists(atPath: fixture.directory + "/x.db"))
    }

    @Test("the backup's local base copy of a 0600 database is 0600 too")
    func baseCopyKeepsItsMode() async throws {
        let fixture = try Fixture()
        #expect(chmod(fixture.database, 0o600) == 0)
        _ = try await fixture.runner().run()
        try fixture.churn(0.01)
        _ = try await fixture.runner().run()
        for file in ["app.base", "app.base.json"] {
            var info = stat()
            #expect(stat(fixture.stateDirectory + "/backup/" + file, &info) == 0)
            #expect(info.st_mode & 0o777 == 0o600, "\(file): \(String(info.st_mode & 0o777, radix: 8))")
        }
    }
}

/// Writes a commit on top of the branch whose `db/<as>` is a copy of `db/<copying>` with its
/// manifest changed by a Python statement on `m`: a forged backup, made with git's plumbing.
func forge(_ fixture: Fixture, copying name: String, as newName: String, edit: String) async throws {
    let script = """
        import json, os, subprocess, sys
        repo, name, new, code = sys.argv[1:5]
        env = dict(os.environ, GIT_AUTHOR_NAME="x", GIT_AUTHOR_EMAIL="x@x", GIT_COMMITTER_NAME="x", GIT_COMMITTER_EMAIL="x@x")
        def git(*args, data=None):
            return subprocess.run(["git", "--git-dir", repo, *args], input=data, check=True, capture_output=True, env=env).stdout.decode().strip()
        m = json.loads(git("cat-file", "blob", f"HEAD:db/{name}/manifest.json"))
        exec(code)
        blob = git("hash-object", "-w", "--stdin", data=json.dumps(m, indent=2).encode())
        lines = [l for l in git("ls-tree", f"HEAD:db/{name}").splitlines() if not l.endswith("\\tmanifest.json")]
        sub = git("mktree", data=("\\n".join(lines + [f"100644 blob {blob}\\tmanifest.json"]) + "\\n").encode())
        dbs = [l for l in git("ls-tree", "HEAD:db").splitlines() if not l.endswith("\\t" + new)]
        db = git("mktree", data=("\\n".join(dbs + [f"040000 tree {sub}\\t{new}"]) + "\\n").encode())
        top = [l for l in git("ls-tree", "HEAD").splitlines() if not l.endswith("\\tdb")]
        root = git("mktree", data=("\\n".join(top + [f"040000 tree {db}\\tdb"]) + "\\n").encode())
        commit = git("commit-tree", root, "-p", "HEAD", "-m", "forged")
        git("update-ref", git("symbolic-ref", "HEAD"), commit)
        """
    let result = try await run("/usr/bin/python3", ["-c", script, fixture.repository, name, newName, edit])
    #expect(result.status == 0, "forging the commit: \(result.stderr)")
}
