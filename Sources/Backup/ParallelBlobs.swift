import CGit2
import Foundation
import Synchronization

/// Turns stored blobs into pack entries of new blobs on every core, and adds those to a pack in
/// the order given: the encrypted mirror's age encryption of a first backup (and its decryption on
/// a restore) is CPU work on the whole database, which one thread did before.
///
/// One lane a core converts blobs, each reading through a repository handle of its own (libgit2's
/// objects are not shared between threads, as in `Reassembler.writeFullSnapshot`), so the blobs
/// must be on disk, not in a `PackWriter`'s in-memory store. The calling thread meanwhile writes
/// the finished entries to the pack (writing a new file costs about as much as encrypting it on
/// the bench machine), and at most `window` blobs are in flight, so a gigabyte database is never
/// held whole. A lane waits for nothing but the calling thread and takes blobs until none is
/// left, so the work completes even when Dispatch's pool starts only one lane.
struct ParallelBlobs {
    /// The repository the blobs are read from.
    let path: String

    static let lanes = max(1, min(ProcessInfo.processInfo.activeProcessorCount, 4))
    /// Blobs being converted or waiting for their turn in the pack: one a lane, so a lane holds
    /// a blob three times (read, converted, encoded) and the pack's encoder two more entries.
    static let window = lanes

    /// Converts each blob of `ids` with `transform` (given its index in `ids` and its bytes,
    /// returning the new blob's pack entry), adds the entries to `packer` and returns their ids,
    /// in the order of `ids`. The first error stops the work and is thrown.
    func convert(
        _ ids: [ObjectID], into packer: PackWriter,
        _ transform: @escaping @Sendable (_ index: Int, _ bytes: [UInt8]) throws(BackupError) -> PackEntry
    ) throws(BackupError) -> [ObjectID] {
        guard !ids.isEmpty else { return [] }
        let work = Work(ids: ids, path: path, transform: transform)
        defer { work.stop() }
        for _ in 0..<min(Self.lanes, ids.count) {
            work.group.enter()
            DispatchQueue.global().async { work.lane() }
        }
        var converted: [ObjectID] = []
        converted.reserveCapacity(ids.count)
        for index in ids.indices {
            let entry = try work.take(index).get()
            try packer.writeEncoded(entry)
            converted.append(entry.id)
            work.window.signal()
        }
        return converted
    }

    /// The state the lanes and the writing thread share.
    private final class Work: Sendable {
        let ids: [ObjectID]
        let path: String
        let transform: @Sendable (Int, [UInt8]) throws(BackupError) -> PackEntry
        /// Free places in the window: a lane takes one before it starts a blob, the writer gives
        /// it back once the entry is in the pack. Made with none and then given them: libdispatch
        /// traps when a semaphore goes away below its initial value, as this one does after an error.
        let window = DispatchSemaphore(value: 0)
        /// Signalled once for each finished blob.
        let finished = DispatchSemaphore(value: 0)
        let group = DispatchGroup()
        private let state = Mutex(State())

        private struct State {
            var next = 0
            var done: [Int: Result<PackEntry, BackupError>] = [:]
            var stopped = false
        }

        init(ids: [ObjectID], path: String, transform: @escaping @Sendable (Int, [UInt8]) throws(BackupError) -> PackEntry) {
            self.ids = ids
            self.path = path
            self.transform = transform
            for _ in 0..<ParallelBlobs.window { window.signal() }
        }

        /// One worker: converts the next blob while the window has room, until none is left.
        func lane() {
            defer { group.leave() }
            let handle: GitRepository
            do throws(BackupError) { handle = try GitRepository.openOrCreate(at: path) } catch {
                // The writer waits for the blob this lane would have taken next: it gets the error.
                window.wait()
                state.withLock { state in
                    if !state.stopped, state.next < ids.count { state.done[state.next] = .failure(error); state.next += 1 }
                    state.stopped = true
                }
                finished.signal()
                return
            }
            while true {
                window.wait()
                let index: Int? = state.withLock { state in
                    guard !state.stopped, state.next < ids.count else { return nil }
                    defer { state.next += 1 }
                    return state.next
                }
                guard let index else { return }
                let result = Result { () throws(BackupError) -> PackEntry in try transform(index, try handle.readBlob(ids[index])) }
                state.withLock { state in
                    state.done[index] = result
                    if case .failure = result { state.stopped = true }
                }
                finished.signal()
            }
        }

        /// Waits for blob `index` and hands over its entry.
        func take(_ index: Int) -> Result<PackEntry, BackupError> {
            while true {
                let result = state.withLock { $0.done.removeValue(forKey: index) }
                if let result { return result }
                if state.withLock({ $0.stopped && $0.next <= index }) {
                    return .failure(BackupError("blob \(ids[index]) was not converted: the work stopped at an earlier error"))
                }
                finished.wait()
            }
        }

        /// Stops the lanes (at the end, or at an error) and waits for them.
        func stop() {
            state.withLock { $0.stopped = true }
            for _ in 0..<ParallelBlobs.lanes { window.signal() }
            group.wait()
        }
    }
}

extension PackEntry {
    /// A blob's entry with its bytes stored, not deflated: age's ciphertext is random and does
    /// not compress (deflating it at git's default level was most of an encrypted first backup's
    /// time), and a restore's decrypted chunks are read back at once. zlib's level 0 writes them
    /// in stored blocks, which every git reads.
    static func stored(blob data: [UInt8]) throws(BackupError) -> PackEntry {
        let id = data.withUnsafeBytes { PackEntry.objectID(type: GIT_OBJECT_BLOB, $0) }
        var bytes = header(type: GIT_OBJECT_BLOB, size: data.count)
        let headerCount = bytes.count
        let bound = Int(compressBound(uLong(data.count)))
        bytes.append(contentsOf: repeatElement(0, count: bound))
        var length = uLong(bound)
        let result: Int32 = bytes.withUnsafeMutableBytes { output in
            data.withUnsafeBytes { input in
                compress2(
                    output.baseAddress.map { ($0 + headerCount).assumingMemoryBound(to: Bytef.self) }, &length,
                    input.baseAddress?.assumingMemoryBound(to: Bytef.self), uLong(data.count), Z_NO_COMPRESSION)
            }
        }
        guard result == Z_OK else { throw BackupError("zlib failed to store object \(id) (\(result))") }
        bytes.removeLast(bound - Int(length))
        return PackEntry(id: id, bytes: bytes, crc32: crc32(of: bytes))
    }
}
