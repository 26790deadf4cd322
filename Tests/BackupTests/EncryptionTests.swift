@testable import Backup
import Foundation
import OpsConfig
import Testing
import TestSupport

/// age interoperability with Debian's `age` CLI, and `backup.encrypt` end to end against a bare remote.
@Suite("Backup encryption (age)")
struct EncryptionTests {
    /// A key pair made by `age-keygen`: the identity file and its recipient.
    struct Key {
        let file: String
        let recipient: String

        init(in directory: String, name: String = "key.txt") async throws {
            file = directory + "/" + name
            let made = try await run("/usr/bin/age-keygen", ["-o", file])
            #expect(made.status == 0, "\(made.stderr)")
            recipient = try await run("/usr/bin/age-keygen", ["-y", file]).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        }
    }

    static func scratch() throws -> String {
        let directory = NSTemporaryDirectory() + "opsd-age-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        return directory
    }

    static func randomBytes(_ count: Int) -> [UInt8] {
        var generator = SystemRandomNumberGenerator()
        return (0..<count).map { _ in UInt8.random(in: 0...255, using: &generator) }
    }

    @Test("what we encrypt, age -d decrypts; what age -r encrypts, we decrypt (0 B to 2 chunks and a bit, two recipients)")
    func interoperatesWithTheAgeCLI() async throws {
        let directory = try Self.scratch()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let key = try await Key(in: directory)
        let other = try await Key(in: directory, name: "other.txt")
        let recipients = [try AgeRecipient(key.recipient, origin: "test"), try AgeRecipient(other.recipient, origin: "test")]
        let identities = try AgeIdentity.load(file: key.file)
        #expect(identities.first?.recipient == key.recipient)
        for size in [0, 1, 65_535, 65_536, 65_537, 2 * 65_536 + 7] {
            let plaintext = Self.randomBytes(size)
            let ours = directory + "/ours-\(size).age"
            try Data(try Age.encrypt(plaintext, to: recipients)).write(to: URL(fileURLWithPath: ours))
            for identity in [key.file, other.file] {
                let out = directory + "/ours-\(size).out"
                let decrypted = try await run("/bin/sh", ["-c", "age -d -i '\(identity)' '\(ours)' > '\(out)'"])
                #expect(decrypted.status == 0, "size \(size): \(decrypted.stderr)")
                #expect([UInt8](try Data(contentsOf: URL(fileURLWithPath: out))) == plaintext, "size \(size)")
            }
            let input = directory + "/plain-\(size)"
            try Data(plaintext).write(to: URL(fileURLWithPath: input))
            let theirs = directory + "/theirs-\(size).age"
            let encrypted = try await run("/usr/bin/age", ["-r", other.recipient, "-r", key.recipient, "-o", theirs, input])
            #expect(encrypted.status == 0, "\(encrypted.stderr)")
            let file = [UInt8](try Data(contentsOf: URL(fileURLWithPath: theirs)))
            #expect(try Age.decrypt(file, with: identities) == plaintext, "size \(size)")
        }
    }

    @Test("a wrong identity, an altered header or payload, and a truncated file each fail with their own error")
    func refusesWhatItCannotTrust() async throws {
        let directory = try Self.scratch()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let key = try await Key(in: directory)
        let stranger = try await Key(in: directory, name: "stranger.txt")
        let identities = try AgeIdentity.load(file: key.file)
        let plaintext = Self.randomBytes(2 * 65_536)
        let input = directory + "/plain"
        try Data(plaintext).write(to: URL(fileURLWithPath: input))
        let encryptedPath = directory + "/file.age"
        #expect(try await run("/usr/bin/age", ["-r", key.recipient, "-o", encryptedPath, input]).status == 0)
        let file = [UInt8](try Data(contentsOf: URL(fileURLWithPath: encryptedPath)))
        let header = try AgeHeader(file)

        func failure(_ bytes: [UInt8], with identities: [AgeIdentity]) -> String {
            do { _ = try Age.decrypt(bytes, with: identities); return "decrypted" } catch { return error.description }
        }
        #expect(failure(file, with: try AgeIdentity.load(file: stranger.file)).contains("no identity given opens this age file"))
        var payload = file
        payload[header.payloadStart + 16 + 100] ^= 1
        #expect(failure(payload, with: identities).contains("chunk 0 failed authentication"))
        var mac = file
        // A byte of the stanza's share: the header no longer matches its MAC (or the stanza no longer opens).
        let macLine = header.macInputEnd - 3
        mac[macLine - 2] = mac[macLine - 2] == UInt8(ascii: "A") ? UInt8(ascii: "B") : UInt8(ascii: "A")
        let macError = failure(mac, with: identities)
        #expect(macError.contains("MAC") || macError.contains("no identity") || macError.contains("malformed"), "\(macError)")
        let truncated = Array(file[..<(header.payloadStart + 16 + 65_536 + 16)])
        #expect(failure(truncated, with: identities).contains("truncated"))
        #expect(failure(Array(file[..<(header.payloadStart + 10)]), with: identities).contains("truncated"))
        #expect(failure(Array("not age\n".utf8), with: identities).contains("not an age file"))
        #expect(failure(file, with: identities) == "decrypted")
    }

    @Test("a malformed recipient is a config error naming its key path and line")
    func malformedRecipientIsAConfigError() throws {
        let directory = try Self.scratch()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = directory + "/ops.yaml"
        try """
            backup:
              repository: \(directory)/backup.git
              encrypt:
                recipients: [age1notarecipient]

            """.write(toFile: path, atomically: true, encoding: .utf8)
        let result = ConfigLoader.read(path: path)
        let diagnostic = result.diagnostics.first { $0.path == "backup.encrypt.recipients[0]" }
        #expect(diagnostic?.line == 4, "\(result.diagnostics)")
        #expect(diagnostic?.message.contains("is not an age recipient (age1…)") == true, "\(result.diagnostics)")
    }

    /// Every object of a repository, uncompressed, as one byte string.
    static func allObjects(_ gitDirectory: String) async throws -> [UInt8] {
        let out = gitDirectory + ".objects"
        let dumped = try await run("/bin/sh", ["-c", "git --git-dir '\(gitDirectory)' cat-file --batch-all-objects --batch > '\(out)'"])
        #expect(dumped.status == 0, "\(dumped.stderr)")
        defer { unlink(out) }
        return [UInt8](try Data(contentsOf: URL(fileURLWithPath: out)))
    }

    static func objectsSize(_ gitDirectory: String) -> Int {
        let enumerator = FileManager.default.enumerator(atPath: gitDirectory + "/objects")
        var total = 0
        while let name = enumerator?.nextObject() as? String {
            total += ((try? FileManager.default.attributesOfItem(atPath: gitDirectory + "/objects/" + name))?[.size] as? Int) ?? 0
        }
        return total
    }

    static func contains(_ haystack: [UInt8], _ needle: String) -> Bool {
        let pattern = Array(needle.utf8)
        guard haystack.count >= pattern.count, let first = pattern.first else { return false }
        var index = 0
        while index <= haystack.count - pattern.count {
            if haystack[index] == first, Array(haystack[index..<index + pattern.count]) == pattern { return true }
            index += 1
        }
        return false
    }

    @Test("backup.encrypt: the remote holds no plaintext, grows with the change, restores by hand with git and age and with opsctl restore --identity")
    func encryptedRemoteEndToEnd() async throws {
        let fixture = try Fixture()
        _ = try await run("/usr/bin/git", ["init", "--quiet", "--bare", fixture.remote])
        let key = try await Key(in: fixture.directory)
        try fixture.writeConfig(remote: "    url: \(fixture.remote)\n")
        let config = try String(contentsOfFile: fixture.configPath, encoding: .utf8) + "  encrypt:\n    recipients: [\(key.recipient)]\n"
        try config.write(toFile: fixture.configPath, atomically: true, encoding: .utf8)
        let branch = BackupPlan.hostName()

        let started = ContinuousClock.now
        let first = try await fixture.runner().run()
        let firstTime = ContinuousClock.now - started
        #expect(first.push.state == .pushed, "\(first.push.error ?? "")")
        let knownRow = "item 1234 "
        #expect(Self.contains(try await Self.allObjects(fixture.repository), knownRow), "the local repository stays plaintext")
        #expect(!Self.contains(try await Self.allObjects(fixture.remote), knownRow), "the remote holds no plaintext")
        let message = try await fixture.git(["log", "--format=%an <%ae> %s", branch], in: fixture.remote)
        #expect(message.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == "opsd <opsd> backup")

        // One round of 1 % churn: the remote grows with the change, not with the database.
        let databaseSize = ((try FileManager.default.attributesOfItem(atPath: fixture.database))[.size] as? Int) ?? 0
        let before = Self.objectsSize(fixture.remote)
        try fixture.churn(0.01)
        let roundStart = ContinuousClock.now
        let second = try await fixture.runner().run()
        let roundTime = ContinuousClock.now - roundStart
        #expect(second.push.state == .pushed, "\(second.push.error ?? "")")
        let growth = Self.objectsSize(fixture.remote) - before
        print("encrypted: first backup \(firstTime), database \(databaseSize) B; 1 % round \(roundTime), remote +\(growth) B, local stored \(second.storedBytes) B")
        #expect(growth < databaseSize / 10, "remote grew \(growth) B for a \(databaseSize) B database")

        // By hand: git and age only, from the first (full) backup.
        let manual = fixture.directory + "/manual.db"
        let script = """
            set -e; cd '\(fixture.remote)'
            for c in $(git ls-tree --name-only \(branch)~1:db/app/full/); do git cat-file blob \(branch)~1:db/app/full/$c | age -d -i '\(key.file)'; done > '\(manual)'
            git cat-file blob \(branch)~1:db/app/manifest.json.age | age -d -i '\(key.file)' > '\(manual).json'
            """
        let byHand = try await run("/bin/sh", ["-c", script])
        #expect(byHand.status == 0, "\(byHand.stderr)")
        let manifest = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: manual + ".json"))) as? [String: Any]
        #expect(try await fixture.sha256(manual) == manifest?["sha256"] as? String)

        // A new machine: without --identity the restore says what to pass; with it, byte-identical.
        let rows = try fixture.rows(fixture.database)
        try FileManager.default.removeItem(atPath: fixture.repository)
        try FileManager.default.removeItem(atPath: fixture.stateDirectory)
        try FileManager.default.removeItem(atPath: fixture.database)
        let refused = try await fixture.opsctl(["restore", "--from-remote"])
        #expect(refused.status == 1)
        #expect(refused.stderr.contains("pass --identity FILE"), "\(refused.stderr)")
        let restoreStart = ContinuousClock.now
        let restored = try await fixture.opsctl(["restore", "--from-remote", "--identity", key.file])
        print("encrypted: restore with decryption \(ContinuousClock.now - restoreStart)")
        #expect(restored.status == 0, "\(restored.stderr)")
        #expect(try fixture.rows(fixture.database) == rows)
        let listed = try await fixture.opsctl(["backup", "list", "--from-remote", "--identity", key.file])
        #expect(listed.status == 0, "\(listed.stderr)")
        #expect(listed.stdout.contains("backup: app"), "\(listed.stdout)")

        // Backups go on after the restore: the plaintext history and the encrypted one both continue.
        try fixture.churn(0.01, seed: 2)
        let third = try await fixture.runner().run()
        #expect(third.databases.first?.layout == .delta)
        #expect(third.push.state == .pushed, "\(third.push.error ?? "")")
        let count = try await fixture.git(["rev-list", "--count", branch], in: fixture.remote)
        #expect(count.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == "3")
    }

    @Test("a new machine without the identity continues the encrypted branch with a new local history")
    func newMachineContinuesTheEncryptedBranch() async throws {
        let fixture = try Fixture(rows: 2_000)
        _ = try await run("/usr/bin/git", ["init", "--quiet", "--bare", fixture.remote])
        let key = try await Key(in: fixture.directory)
        try fixture.writeConfig(remote: "    url: \(fixture.remote)\n")
        let config = try String(contentsOfFile: fixture.configPath, encoding: .utf8) + "  encrypt:\n    recipients: [\(key.recipient)]\n"
        try config.write(toFile: fixture.configPath, atomically: true, encoding: .utf8)
        let branch = BackupPlan.hostName()
        #expect(try await fixture.runner().run().push.state == .pushed)
        let head = try await fixture.git(["rev-parse", branch], in: fixture.remote).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        try FileManager.default.removeItem(atPath: fixture.repository)
        try FileManager.default.removeItem(atPath: fixture.stateDirectory)
        try fixture.churn(0.05)
        let next = try await fixture.runner().run()
        #expect(next.databases.first?.layout == .full)
        #expect(next.push.state == .pushed, "\(next.push.error ?? "")")
        let parent = try await fixture.git(["rev-parse", "\(branch)^"], in: fixture.remote)
        #expect(parent.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == head)
        let restored = try await fixture.opsctl(["restore", "--from-remote", "--identity", key.file, "--to", fixture.directory + "/restored.db"])
        #expect(restored.status == 0, "\(restored.stderr)")
        #expect(try fixture.rows(fixture.directory + "/restored.db") == fixture.rows(fixture.database))
    }

    @Test("a prune force-pushes a new encrypted history of the kept backups, which restores")
    func pruneRebuildsTheEncryptedBranch() async throws {
        let fixture = try Fixture(rows: 2_000)
        _ = try await run("/usr/bin/git", ["init", "--quiet", "--bare", fixture.remote])
        let key = try await Key(in: fixture.directory)
        try fixture.writeConfig(remote: "    url: \(fixture.remote)\n")
        let config = try String(contentsOfFile: fixture.configPath, encoding: .utf8) + "  encrypt:\n    recipients: [\(key.recipient)]\n"
        try config.write(toFile: fixture.configPath, atomically: true, encoding: .utf8)
        let branch = BackupPlan.hostName()
        for seed in 1...3 {
            try fixture.churn(0.05, seed: seed)
            #expect(try await fixture.runner().run().push.state == .pushed)
        }
        let outcome = try await fixture.runner().prune(keep: BackupKeep(last: 1, hourly: 0, daily: 0, weekly: 0, monthly: 0, yearly: 0), dryRun: false)
        #expect(outcome.push.state == .pushed, "\(outcome.push.error ?? "")")
        let count = try await fixture.git(["rev-list", "--count", branch], in: fixture.remote)
        #expect(count.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == "1")
        #expect(!Self.contains(try await Self.allObjects(fixture.remote), "item 123 "))
        let restored = try await fixture.opsctl(["restore", "--from-remote", "--identity", key.file, "--to", fixture.directory + "/restored.db"])
        #expect(restored.status == 0, "\(restored.stderr)")
        #expect(try fixture.rows(fixture.directory + "/restored.db") == fixture.rows(fixture.database))
    }

    @Test("recipients_file adds its recipients; a bad line is refused naming the file and line")
    func recipientsFile() async throws {
        let directory = try Self.scratch()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let key = try await Key(in: directory)
        let file = directory + "/recipients"
        try "# backup keys\n\n\(key.recipient)\n".write(toFile: file, atomically: true, encoding: .utf8)
        var spec = BackupSpec(repository: directory + "/backup.git")
        spec.encrypt = BackupEncryption(recipientsFile: file)
        let plan = try BackupPlan(spec: spec, stateDirectory: directory + "/state", host: "h")
        #expect(plan.recipients.map(\.text) == [key.recipient])
        try "\(key.recipient)\nage1typo\n".write(toFile: file, atomically: true, encoding: .utf8)
        #expect(throws: BackupError.self) { try BackupPlan(spec: spec, stateDirectory: directory + "/state", host: "h") }
        do { _ = try BackupPlan(spec: spec, stateDirectory: directory + "/state", host: "h") } catch {
            #expect(error.description.contains("backup.encrypt.recipients_file \(file) line 2 is not an age recipient (age1…)"), "\(error)")
        }
    }
}
