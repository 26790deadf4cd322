import CGit2
import Foundation

/// Rolls the smaller packs into one and leaves the big ones alone (git's `repack --geometric=2`),
/// so a compaction costs about what the small packs hold (deltas, trees, commits), not a whole
/// repository's full snapshots again. Unlike `Repack` it drops nothing: every object of a
/// rolled-up pack goes into the new pack, reachable or not.
public struct GeometricRepack {
    let repository: GitRepository

    /// The packs to roll up (names without extension): by size, the smallest up to the last one
    /// that is less than twice all the smaller ones together. Afterwards each remaining pack is at
    /// least twice the size of all smaller ones, so n packs span a size ratio of 2^n: few packs.
    public static func rollUp(_ packs: [(name: String, size: Int)]) -> [String] {
        let sorted = packs.sorted { $0.size != $1.size ? $0.size < $1.size : $0.name < $1.name }
        var total = 0
        var last = 0
        for (index, pack) in sorted.enumerated() {
            if index > 0, pack.size < 2 * total { last = index }
            total += pack.size
        }
        return last == 0 ? [] : sorted[...last].map(\.name)
    }

    /// Rolls up the packs `rollUp` picks; returns how many it rolled up (0: nothing to do).
    @discardableResult
    func run() throws(BackupError) -> Int {
        let copy = PackCopy(repository: repository)
        let directory = repository.objectsDirectory + "/pack"
        let chosen = Self.rollUp(copy.packs())
        guard chosen.count > 1 else { return 0 }
        var objects: [ObjectID] = []
        for pack in chosen { objects += try Self.objectIDs(index: "\(directory)/\(pack).idx").map(ObjectID.init) }
        // Their entries copied as stored; the rolled-up packs go once the new one is in place.
        try copy.write(objects, replacing: chosen)
        return chosen.count
    }

    /// The object ids a version-2 pack index lists (git's format: magic, version, 256 fan-out
    /// counts, then the sorted SHA-1s).
    static func objectIDs(index path: String) throws(BackupError) -> [git_oid] {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw BackupError("cannot read the pack index \(path); the repository is damaged")
        }
        let bytes = [UInt8](data)
        func word(_ at: Int) -> Int { bytes[at..<at + 4].reduce(0) { $0 << 8 | Int($1) } }
        guard bytes.count >= 8 + 1024, bytes[0..<4] == [0xFF, 0x74, 0x4F, 0x63], word(4) == 2 else {
            throw BackupError("\(path) is not a version 2 pack index; repack the repository with git (git repack -a -d)")
        }
        let count = word(8 + 255 * 4)
        guard bytes.count >= 8 + 1024 + count * 20 else { throw BackupError("the pack index \(path) is truncated; the repository is damaged") }
        return (0..<count).map { index in
            var oid = git_oid()
            bytes.withUnsafeBufferPointer { buffer in
                if let base = buffer.baseAddress { _ = git_oid_fromraw(&oid, base + 8 + 1024 + index * 20) }
            }
            return oid
        }
    }
}
