import FileSafety
import Foundation

/// One backup (or restore) at a time per repository, across processes: opsd's scheduler and any
/// `opsctl backup` or `opsctl restore` take an exclusive `flock` on `<repository>/opsd-backup.lock`.
///
/// flock locks belong to the open file, so the kernel releases them when the process dies, even
/// by SIGKILL: a crashed backup never leaves a stale lock behind.
final class BackupLock {
    private let descriptor: Int32

    /// Takes the lock or fails at once, naming the process that holds it.
    ///
    /// The repository must be a directory only root and this user can change (created 0700 when
    /// missing): in one that others can write, a planted link at the lock's name would make a
    /// root backup write its pid wherever the link points, and a planted pack or reference would
    /// become part of the backups. The lock is opened without following links.
    ///
    /// `stateDirectory` is opsd's: its owner (opsd's user, `ops` under the unit) is trusted like
    /// root, so root can run `opsctl backup` and `restore` on the repository opsd keeps.
    init(repository: String, stateDirectory: String) throws(BackupError) {
        let path = repository + "/opsd-backup.lock"
        let owner = TrustedDirectory.serviceOwner(of: stateDirectory)
        do throws(UntrustedPathError) {
            try TrustedDirectory.prepare(repository, mode: 0o700, purpose: "the backup repository", trusting: owner)
            descriptor = try SafeFile.open(path, flags: O_RDWR | O_CREAT, mode: 0o600, purpose: "the backup lock file", trusting: owner)
        } catch {
            throw BackupError(error.description)
        }
        guard Self.take(descriptor) else {
            var buffer = [UInt8](repeating: 0, count: 32)
            let count = pread(descriptor, &buffer, buffer.count, 0)
            let holder = String(decoding: buffer.prefix(max(count, 0)), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            close(descriptor)
            let who = holder.isEmpty ? "another process" : "process \(holder)"
            throw BackupError("another backup or restore is running on \(repository) (\(who)); wait for it to finish and try again")
        }
        let pid = "\(getpid())\n"
        ftruncate(descriptor, 0)
        _ = pid.withCString { pwrite(descriptor, $0, strlen($0), 0) }
    }

    /// Takes the lock without waiting for a holder, but tries again a few times over 0.2 s: a
    /// process that spawns a child while it held the lock (its own worker, a `backup.before`
    /// command; another thread's spawn in the same process, as in opsd or a test run) lends the
    /// child its open lock file between fork and exec, so the lock can outlive its release by
    /// that moment. A real second backup holds it for seconds and is still refused quickly.
    private static func take(_ descriptor: Int32) -> Bool {
        for attempt in 0..<5 {
            if flock(descriptor, LOCK_EX | LOCK_NB) == 0 { return true }
            guard errno == EWOULDBLOCK || errno == EINTR, attempt < 4 else { return false }
            usleep(50_000)
        }
        return false
    }

    deinit {
        ftruncate(descriptor, 0)
        close(descriptor)
    }
}
