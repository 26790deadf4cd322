import Foundation

/// Keeps the live database (and its -wal, -shm, -journal) under a new, unique name before a
/// restore replaces it: `<file>.pre-restore-<UTC time to the nanosecond>`, with `-2`, `-3`… when
/// even that exists. No earlier safety copy is ever overwritten, and the live path always holds a
/// complete database: the copy is a hard link (or, where links are refused, a byte copy), never a
/// rename of the live file.
enum SafetyCopy {
    /// The names safety copies have, as an exclude glob: backups leave them out.
    static let pattern = "*.pre-restore-*"

    /// Makes the safety copy of `live`; returns its path.
    static func keep(_ live: String) throws(BackupError) -> String {
        let base = "\(live).pre-restore-\(stamp())"
        var aside = base
        var attempt = 1
        while true {
            // link(2) and O_EXCL both fail on an existing name: nothing is ever replaced.
            if link(live, aside) == 0 { break }
            let linkError = errno
            if linkError == EEXIST {
                attempt += 1
                aside = "\(base)-\(attempt)"
                continue
            }
            // A file system without hard links (or a link the kernel refuses): copy the bytes.
            do throws(BackupError) {
                try copy(live, to: aside)
                break
            } catch {
                if errno == EEXIST { attempt += 1; aside = "\(base)-\(attempt)"; continue }
                throw error
            }
        }
        // The -wal and -journal hold pages of the old file: they go with it (they must never be
        // replayed into the restored one). The live database stays in place meanwhile.
        for suffix in ["-wal", "-shm", "-journal"] where FileSystem.exists(live + suffix) {
            if link(live + suffix, aside + suffix) == 0 {
                unlink(live + suffix)
            } else if !FileSystem.exists(aside + suffix) {
                try FileSystem.rename(live + suffix, aside + suffix)
            } else {
                throw BackupError("cannot keep \(live + suffix) as \(aside + suffix): that name is taken; move it away and restore again")
            }
        }
        FileSystem.syncDirectory(of: live)
        return aside
    }

    /// Copies `source` to the new file `destination` (O_EXCL) with the source's owner and mode.
    private static func copy(_ source: String, to destination: String) throws(BackupError) {
        let input = try ReadableFile(source)
        var info = stat()
        guard fstat(input.descriptor, &info) == 0 else { throw BackupError("cannot stat \(source): \(String(cString: strerror(errno)))") }
        let output = try WritableFile(creatingNew: destination)
        var buffer = [UInt8](repeating: 0, count: 1 << 20)
        var offset = 0
        while true {
            let count = try input.read(into: &buffer, at: offset)
            if count == 0 { break }
            try buffer.withBytes { (raw) throws(BackupError) in try output.write(UnsafeRawBufferPointer(rebasing: raw[0..<count]), at: offset) }
            offset += count
        }
        try output.setOwnership(owner: info.st_uid, group: info.st_gid, mode: info.st_mode)
        try output.finish()
    }

    /// `20261207T041500.123456789Z`: sortable, and unique for restores a nanosecond apart.
    static func stamp() -> String {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        var time = tm()
        var seconds = now.tv_sec
        gmtime_r(&seconds, &time)
        func two(_ value: Int32) -> String { value < 10 ? "0\(value)" : "\(value)" }
        let nanos = String(now.tv_nsec)
        let fraction = String(repeating: "0", count: max(0, 9 - nanos.count)) + nanos
        return "\(time.tm_year + 1900)\(two(time.tm_mon + 1))\(two(time.tm_mday))T\(two(time.tm_hour))\(two(time.tm_min))\(two(time.tm_sec)).\(fraction)Z"
    }
}
