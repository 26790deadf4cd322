import Backup
import Foundation
import OpsAPI
import StateStore
import Testing
import TestSupport

@Suite("Restore: verified before anything is replaced")
struct RestoreTests {
    @Test("--to leaves the live database untouched; an in-place restore keeps the old file (and -wal) as a safety copy")
    func toAndSwap() async throws {
        let fixture = try Fixture()
        let runner = try fixture.runner()
        let backup = try #require(try await runner.run().commit)
        let backedUp = try fixture.rows(fixture.database)
        try fixture.churn(0.05)
        let live = try await fixture.sha256(fixture.database)

        let copy = fixture.directory + "/copy.db"
        let to = try await fixture.opsctl(["restore", "--to", copy])
        #expect(to.status == 0, "\(to.stderr)")
        #expect(try await fixture.sha256(fixture.database) == live)
        #expect(try fixture.rows(copy) == backedUp)

        let again = try await fixture.opsctl(["restore", "--to", copy])
        #expect(again.status == 1)
        #expect(again.stderr.contains("already exists; choose another --to or pass --force"))

        let inPlace = try await fixture.opsctl(["restore", "--at", backup, "--json"])
        #expect(inPlace.status == 0, "\(inPlace.stderr)")
        let outcome = try WireJSON.decoder.decode(RestoreOutcome.self, from: Data(inPlace.stdout.utf8))
        let aside = try #require(outcome.databases.first?.safetyCopy)
        #expect(try await fixture.sha256(aside) == live)
        #expect(try fixture.rows(fixture.database) == backedUp)
    }

    @Test("a database already damaged when it was backed up fails the restore's integrity check (run while the file is fsynced): nothing is replaced, nothing is left beside it")
    func damagedWhenBackedUp() async throws {
        let fixture = try Fixture(journal: "delete")
        let size = try fileSize(fixture.database)
        let pageSize = 4096
        #expect(size % pageSize == 0 && size / pageSize > 10)
        // The last page (a leaf of the table) gets a b-tree page type no page has: SQLite's
        // backup copies pages as they are, so the snapshot holds the damage, and its SHA-256 too.
        let handle = try #require(FileHandle(forUpdatingAtPath: fixture.database))
        try handle.seek(toOffset: UInt64(size - pageSize))
        try handle.write(contentsOf: Data([0x07]))
        try handle.close()
        _ = try await fixture.runner().run()
        let live = try await fixture.sha256(fixture.database)

        let inPlace = try await fixture.opsctl(["restore", "--force"])
        #expect(inPlace.status == 1)
        #expect(inPlace.stderr.contains("fails SQLite's integrity check"), "\(inPlace.stderr)")
        #expect(try await fixture.sha256(fixture.database) == live)
        let copy = fixture.directory + "/copy.db"
        let to = try await fixture.opsctl(["restore", "--to", copy])
        #expect(to.status == 1 && to.stderr.contains("already damaged when that backup was taken"), "\(to.stderr)")
        #expect(!FileManager.default.fileExists(atPath: copy))
        let left = try FileManager.default.contentsOfDirectory(atPath: fixture.directory).filter { $0.contains(".restore-") }
        #expect(left.isEmpty, "left beside the database: \(left)")
    }

    @Test("a database another process has open is refused unless --force")
    func refusesAnOpenDatabase() async throws {
        let fixture = try Fixture()
        _ = try await fixture.runner().run()
        let holder = try BackgroundProcess("/usr/bin/python3", ["-c", """
            import sqlite3, sys, time
            db = sqlite3.connect(sys.argv[1]); db.execute('select count(*) from items').fetchall()
            open(sys.argv[2], 'w').write('open'); time.sleep(600)
            """, fixture.database, fixture.directory + "/holding"])
        defer { holder.kill() }
        #expect(try await waitUntil { FileManager.default.fileExists(atPath: fixture.directory + "/holding") })
        let live = try await fixture.sha256(fixture.database)
        let refused = try await fixture.opsctl(["restore"])
        #expect(refused.status == 1)
        #expect(refused.stderr.contains("is open in process \(holder.pid)"), "\(refused.stderr)")
        #expect(try await fixture.sha256(fixture.database) == live)
        let forced = try await fixture.opsctl(["restore", "--force"])
        #expect(forced.status == 0, "\(forced.stderr)")
    }

    @Test("a manifest whose checksum does not match is refused, and nothing is touched")
    func corruptedManifest() async throws {
        let fixture = try Fixture()
        _ = try await fixture.runner().run()
        try fixture.churn(0.02)
        let live = try await fixture.sha256(fixture.database)
        // Write a commit whose manifest claims another SHA-256, with git's own plumbing.
        let script = """
            set -e
            export GIT_DIR='\(fixture.repository)'
            git cat-file blob HEAD:db/app/manifest.json | sed 's/"sha256" : "[0-9a-f]\\{8\\}/"sha256" : "00000000/' > '\(fixture.directory)/m.json'
            blob=$(git hash-object -w '\(fixture.directory)/m.json')
            app=$(git ls-tree HEAD:db/app | sed "s/[0-9a-f]\\{40\\}\\tmanifest.json/$blob\\tmanifest.json/" | git mktree)
            db=$(printf '040000 tree %s\\tapp\\n' "$app" | git mktree)
            root=$(git ls-tree HEAD | sed "s/[0-9a-f]\\{40\\}\\tdb$/$db\\tdb/" | git mktree)
            commit=$(git commit-tree "$root" -p HEAD -m tampered)
            git update-ref refs/heads/$(git symbolic-ref --short HEAD) "$commit"
            """
        let tamper = try await run("/bin/sh", ["-c", script])
        #expect(tamper.status == 0, "\(tamper.stderr)")
        let restore = try await fixture.opsctl(["restore", "--force"])
        #expect(restore.status == 1)
        #expect(restore.stderr.contains("the backup repository is damaged, restore from another commit with --at"), "\(restore.stderr)")
        #expect(try await fixture.sha256(fixture.database) == live)
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: fixture.directory).filter { $0.contains("restore") }
        #expect(leftovers.isEmpty, "\(leftovers)")
    }

    @Test("a corrupted pack is refused with a clear message, and nothing is touched")
    func corruptedObject() async throws {
        let fixture = try Fixture()
        _ = try await fixture.runner().run()
        let live = try await fixture.sha256(fixture.database)
        // Flip bytes in the middle of the biggest pack (the full snapshot's chunks).
        let packDirectory = fixture.repository + "/objects/pack"
        let packs = try FileManager.default.contentsOfDirectory(atPath: packDirectory).filter { $0.hasSuffix(".pack") }
        let biggest = try #require(packs.max { (try fileSize(packDirectory + "/" + $0)) < (try fileSize(packDirectory + "/" + $1)) })
        let handle = try #require(FileHandle(forUpdatingAtPath: packDirectory + "/" + biggest))
        let size = try fileSize(packDirectory + "/" + biggest)
        try handle.seek(toOffset: UInt64(size / 2))
        try handle.write(contentsOf: Data(repeating: 0x5a, count: 64))
        try handle.close()
        let restore = try await fixture.opsctl(["restore", "--force"])
        #expect(restore.status == 1)
        #expect(restore.stderr.contains("damaged"), "\(restore.stderr)")
        #expect(try await fixture.sha256(fixture.database) == live)
    }

    @Test("bad --at and --db values get one sentence that says what to do")
    func badArguments() async throws {
        let fixture = try Fixture()
        _ = try await fixture.runner().run()
        let commit = try await fixture.opsctl(["restore", "--at", "not-a-commit", "--to", fixture.directory + "/x.db"])
        #expect(commit.status == 1)
        #expect(commit.stderr.contains("not-a-commit is not a backup commit"), "\(commit.stderr)")
        let early = try await fixture.opsctl(["restore", "--at", "2001-01-01", "--to", fixture.directory + "/x.db"])
        #expect(early.stderr.contains("there is no backup at or before 2001-01-01"), "\(early.stderr)")
        let name = try await fixture.opsctl(["restore", "--db", "nope", "--to", fixture.directory + "/x.db"])
        #expect(name.stderr.contains("has no database named \"nope\"; it has: app"), "\(name.stderr)")
        #expect(!FileManager.default.fileExists(atPath: fixture.directory + "/x.db"))

        // A date after every backup picks the latest one.
        let future = try await fixture.opsctl(["restore", "--at", "2999-01-01", "--to", fixture.directory + "/x.db"])
        #expect(future.status == 0, "\(future.stderr)")
        #expect(try fixture.rows(fixture.directory + "/x.db") == fixture.rows(fixture.database))
    }
}

func fileSize(_ path: String) throws -> Int {
    (try FileManager.default.attributesOfItem(atPath: path)[.size] as? NSNumber)?.intValue ?? 0
}
