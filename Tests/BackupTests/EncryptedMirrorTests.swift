@testable import Backup
import Foundation
import OpsConfig
import Testing
import TestSupport

/// The encrypted mirror with many blobs, more than `ParallelBlobs` keeps in flight: encrypted and
/// decrypted on every core into packs, opened by hand with Debian's `age`, decrypted back to the
/// same commits, and a damaged blob among them named in the error (the lanes stop, nothing hangs).
@Suite("Encrypted mirror with many blobs")
struct EncryptedMirrorTests {
    /// 40 files at the root and 5 in `sub/`: empty, 1 byte, around age's 64 KiB chunk, up to
    /// 300 KB, three with the same bytes, one executable.
    static func files() throws -> [String: [UInt8]] {
        let random = try #require(FileHandle(forReadingAtPath: "/dev/urandom"))
        defer { try? random.close() }
        let sizes = [0, 1, 65_535, 65_536, 65_537, 131_079] + (6..<45).map { ($0 * 7_919) % 300_000 }
        var files: [String: [UInt8]] = [:]
        for (index, size) in sizes.enumerated() {
            let name = index < 40 ? String(format: "f%02d", index) : "sub/g\(index - 40)"
            files[name] = [UInt8](random.readData(ofLength: size))
        }
        files["f11"] = files["f10"]
        files["sub/g4"] = files["f10"]
        return files
    }

    static let executable = "f05"

    /// Writes `files` as a commit on `plan`'s branch (through a pack, as a backup does).
    static func commit(_ files: [String: [UInt8]], parent: ObjectID?, plan: BackupPlan) throws -> ObjectID {
        let repository = try GitRepository.openOrCreate(at: plan.repository)
        let packer = try PackWriter(repository: repository)
        var root: [String: TreeNode] = [:]
        var sub: [String: TreeNode] = [:]
        for (name, bytes) in files {
            let node = TreeNode.blob(try repository.writeBlob(bytes), executable: name == executable)
            if name.hasPrefix("sub/") { sub[String(name.dropFirst(4))] = node } else { root[name] = node }
        }
        root["sub"] = .tree(sub)
        let commit = try repository.writeCommit(tree: try repository.writeTree(root), parent: parent, message: "backup of \(files.count) files\n", authorName: "t", authorEmail: "t")
        try packer.flush()
        try repository.setReference(plan.reference, to: commit)
        return commit
    }

    static func plan(_ directory: String, _ name: String) throws -> BackupPlan {
        try BackupPlan(spec: BackupSpec(repository: directory + "/" + name), stateDirectory: directory + "/state-" + name, host: "h")
    }

    @Test("45 blobs over two commits: age -d opens each, the mirror is packed, and decryption gives back the same commits")
    func manyBlobsRoundTrip() async throws {
        let directory = try EncryptionTests.scratch()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let key = try await EncryptionTests.Key(in: directory)
        let recipients = [try AgeRecipient(key.recipient, origin: "test")]
        let plan = try Self.plan(directory, "local.git")
        var files = try Self.files()
        let first = try Self.commit(files, parent: nil, plan: plan)
        _ = try EncryptedMirror(repository: try GitRepository.openOrCreate(at: plan.repository), plan: plan).update(recipients: recipients, force: false)
        // A second backup changes three files and adds one: only those are encrypted again.
        files["f03"] = Array(files["f03", default: []].reversed())
        files["sub/g1"] = [0x42]
        files["f40"] = Array("new".utf8)
        let second = try Self.commit(files, parent: first, plan: plan)
        let tip = try #require(try EncryptedMirror(repository: try GitRepository.openOrCreate(at: plan.repository), plan: plan).update(recipients: recipients, force: false))

        // Packs only: no loose object was written for the mirror.
        let loose = try FileManager.default.contentsOfDirectory(atPath: plan.repository + "/objects").filter { $0.count == 2 }
        #expect(loose.isEmpty, "loose object directories: \(loose)")
        let mirror = try GitRepository.openOrCreate(at: plan.repository)
        let mirrorTree = try mirror.commit(tip).tree
        let unchanged = try #require(try mirror.entry("f00.age", in: mirrorTree))
        let mirrorParentTree = try mirror.commit(try #require(try mirror.commit(tip).parent)).tree
        #expect(try mirror.entry("f00.age", in: mirrorParentTree) == unchanged, "an unchanged file keeps its encrypted blob")

        // By hand, as docs/backup-format.md says: git and age only.
        let out = directory + "/by-hand"
        let script = """
            set -e; cd '\(plan.repository)'; mkdir -p '\(out)/sub'
            git ls-tree -r --name-only \(tip) | while read -r p; do
              git cat-file blob "\(tip):$p" | age -d -i '\(key.file)' > "\(out)/${p%.age}"
            done
            git ls-tree \(tip) \(Self.executable).age
            """
        let byHand = try await run("/bin/sh", ["-c", script])
        #expect(byHand.status == 0, "\(byHand.stderr)")
        #expect(byHand.stdout.hasPrefix("100755 blob "), "\(byHand.stdout)")
        for (name, bytes) in files {
            #expect(FileManager.default.contents(atPath: out + "/" + name).map { [UInt8]($0) } == bytes, "\(name)")
        }
        let rawCommit = try await run("/usr/bin/git", ["-C", plan.repository, "cat-file", "commit", second.description])
        #expect(FileManager.default.contents(atPath: out + "/commit").map { String(decoding: $0, as: UTF8.self) } == rawCommit.stdout)

        // A new machine: the mirror alone, decrypted with the identity, gives back the same commits.
        let other = try Self.plan(directory, "other.git")
        _ = try await run("/usr/bin/git", ["init", "--quiet", "--bare", other.repository])
        let fetched = try await run("/usr/bin/git", ["-C", other.repository, "fetch", "--quiet", plan.repository, "refs/encrypted/h:refs/remotes/origin/h"])
        #expect(fetched.status == 0, "\(fetched.stderr)")
        let identities = try AgeIdentity.load(file: key.file)
        let decrypted = try EncryptedMirror(repository: try GitRepository.openOrCreate(at: other.repository), plan: other).decrypt(tip, identities: identities)
        #expect(decrypted == second)
        let restored = try GitRepository.openOrCreate(at: other.repository)
        #expect(try restored.commit(decrypted).parent == first)
        for (name, bytes) in files {
            let blob = try #require(try restored.entry(name, in: try restored.commit(decrypted).tree), "\(name)")
            #expect(try restored.readBlob(blob) == bytes, "\(name)")
        }

        // One damaged blob among the 45: the decryption names it and stops.
        let damage = """
            set -e; cd '\(other.repository)'
            bad=$(git cat-file blob \(tip):f07.age | head -c 40000 | git hash-object -w --stdin)
            tree=$(git ls-tree \(tip) | sed "s/ [0-9a-f]*\tf07.age$/ $bad\tf07.age/" | git mktree)
            git commit-tree -m backup "$tree"
            """
        let damaged = try await run("/bin/sh", ["-c", damage])
        #expect(damaged.status == 0, "\(damaged.stderr)")
        let damagedTip = try #require(ObjectID(hex: damaged.stdout.trimmingCharacters(in: .whitespacesAndNewlines)))
        do {
            _ = try EncryptedMirror(repository: try GitRepository.openOrCreate(at: other.repository), plan: other).decrypt(damagedTip, identities: identities)
            Issue.record("a damaged blob was decrypted")
        } catch {
            #expect(error.description.contains("cannot decrypt f07.age of the encrypted backup \(damagedTip.description.prefix(12))"), "\(error)")
        }
    }
}
