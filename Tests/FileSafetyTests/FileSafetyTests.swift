import FileSafety
import Glibc
import Testing

/// A directory of its own under /tmp (sticky, so trusted as an ancestor), removed by the test's end.
private struct Directory {
    let path: String

    init() throws {
        var template = Array("/tmp/opsd-fs-XXXXXX".utf8CString)
        guard mkdtemp(&template) != nil else { throw Failure("mkdtemp failed") }
        path = String(decoding: template.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    func make(_ name: String, mode: mode_t) throws -> String {
        let full = "\(path)/\(name)"
        guard mkdir(full, mode) == 0, chmod(full, mode) == 0 else { throw Failure("mkdir \(full) failed") }
        return full
    }

    func file(_ name: String, _ text: String) throws -> String {
        let full = "\(path)/\(name)"
        let fd = open(full, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        guard fd >= 0 else { throw Failure("cannot create \(full)") }
        _ = Array(text.utf8).withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        close(fd)
        return full
    }

    func contents(_ path: String) -> String {
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { return "" }
        defer { close(fd) }
        var buffer = [UInt8](repeating: 0, count: 4096)
        let count = read(fd, &buffer, buffer.count)
        return String(decoding: buffer.prefix(max(count, 0)), as: UTF8.self)
    }
}

private struct Failure: Error {
    let text: String
    init(_ text: String) { self.text = text }
}

private func refusal(_ body: () throws(UntrustedPathError) -> Void) -> String? {
    do {
        try body()
        return nil
    } catch {
        return error.description
    }
}

@Suite struct TrustedDirectoryTests {
    @Test func aPrivateDirectoryUnderStickyTmpIsTrusted() throws {
        let scratch = try Directory()
        let private_ = try scratch.make("run", mode: 0o750)
        #expect(refusal { () throws(UntrustedPathError) in try TrustedDirectory.check(private_, purpose: "the socket directory") } == nil)
    }

    @Test func aWorldWritableDirectoryIsRefusedWithTheFix() throws {
        let scratch = try Directory()
        let open = try scratch.make("run", mode: 0o1777)
        let message = refusal { () throws(UntrustedPathError) in try TrustedDirectory.check(open, purpose: "the socket directory") }
        #expect(message == "the socket directory \(open) is writable by every user, who could replace what opsd keeps there; run chmod go-w \(open) or choose another directory")
    }

    @Test func aGroupWritableDirectoryIsRefused() throws {
        let scratch = try Directory()
        let shared = try scratch.make("run", mode: 0o770)
        let message = refusal { () throws(UntrustedPathError) in try TrustedDirectory.check(shared, purpose: "the state directory") }
        #expect(message?.contains("is writable by group") == true)
        #expect(message?.contains("chmod g-w \(shared)") == true)
    }

    @Test func aDirectoryOwnedByAnotherUserIsRefused() throws {
        let scratch = try Directory()
        let theirs = try scratch.make("run", mode: 0o755)
        #expect(chown(theirs, 65534, 65534) == 0)
        let message = refusal { () throws(UntrustedPathError) in try TrustedDirectory.check(theirs, purpose: "the socket directory") }
        #expect(message?.contains("is owned by uid 65534") == true)
    }

    @Test func aWritableAncestorThatIsNotStickyIsRefused() throws {
        let scratch = try Directory()
        let parent = try scratch.make("shared", mode: 0o777)
        let child = "\(parent)/run"
        #expect(mkdir(child, 0o750) == 0)
        let message = refusal { () throws(UntrustedPathError) in try TrustedDirectory.check(child, purpose: "the socket directory") }
        #expect(message?.hasPrefix("\(parent), an ancestor of the socket directory \(child), is writable by every user") == true)
    }

    @Test func aSymlinkIsCheckedWhereItLeads() throws {
        let scratch = try Directory()
        let parent = try scratch.make("shared", mode: 0o777)
        let target = "\(parent)/run"
        #expect(mkdir(target, 0o750) == 0)
        let link = "\(scratch.path)/link"
        #expect(symlink(target, link) == 0)
        let message = refusal { () throws(UntrustedPathError) in try TrustedDirectory.check(link, purpose: "the socket directory") }
        #expect(message?.contains("\(parent), an ancestor of the socket directory \(target)") == true)

        let good = try scratch.make("good", mode: 0o750)
        let goodLink = "\(scratch.path)/good-link"
        #expect(symlink(good, goodLink) == 0)
        #expect(refusal { () throws(UntrustedPathError) in try TrustedDirectory.check(goodLink, purpose: "the socket directory") } == nil)
    }

    @Test func prepareCreatesMissingDirectoriesWithTheMode() throws {
        let scratch = try Directory()
        let deep = "\(scratch.path)/a/b"
        #expect(refusal { () throws(UntrustedPathError) in try TrustedDirectory.prepare(deep, mode: 0o750, purpose: "the state directory") } == nil)
        var info = stat()
        #expect(stat(deep, &info) == 0)
        #expect(info.st_mode & 0o7777 == 0o750 & ~currentUmask())
    }
}

private func currentUmask() -> mode_t {
    let mask = umask(0o022)
    umask(mask)
    return mask
}

@Suite struct SafeFileTests {
    @Test func aPlantedSymlinkIsNotFollowed() throws {
        let scratch = try Directory()
        let canary = try scratch.file("canary", "precious\n")
        let lock = "\(scratch.path)/opsd.sock.lock"
        #expect(symlink(canary, lock) == 0)
        let message = refusal { () throws(UntrustedPathError) in
            _ = try SafeFile.open(lock, flags: O_RDWR | O_CREAT | O_TRUNC, purpose: "the socket's lock file")
        }
        #expect(message == "the socket's lock file \(lock) is a symbolic link, which opsd does not follow there; remove it")
        #expect(scratch.contents(canary) == "precious\n")
    }

    @Test func aPlantedHardLinkIsRefusedUntouched() throws {
        let scratch = try Directory()
        let canary = try scratch.file("canary", "precious\n")
        let lock = "\(scratch.path)/opsd.sock.lock"
        #expect(link(canary, lock) == 0)
        let message = refusal { () throws(UntrustedPathError) in
            _ = try SafeFile.open(lock, flags: O_RDWR | O_CREAT | O_TRUNC, purpose: "the socket's lock file")
        }
        #expect(message?.contains("has 2 hard links") == true)
        #expect(scratch.contents(canary) == "precious\n")
    }

    @Test func someoneElsesFileIsNeitherUsedNorTruncated() throws {
        let scratch = try Directory()
        let theirs = try scratch.file("state.lock", "theirs\n")
        #expect(chown(theirs, 65534, 65534) == 0)
        let message = refusal { () throws(UntrustedPathError) in
            _ = try SafeFile.open(theirs, flags: O_RDWR | O_CREAT | O_TRUNC, purpose: "the lock file")
        }
        #expect(message?.contains("is owned by uid 65534") == true)
        #expect(scratch.contents(theirs) == "theirs\n")
    }

    @Test func aPlantedFIFOIsRefusedWithoutBlocking() throws {
        let scratch = try Directory()
        let fifo = "\(scratch.path)/fifo"
        #expect(mkfifo(fifo, 0o600) == 0)
        let message = refusal { () throws(UntrustedPathError) in _ = try SafeFile.open(fifo, flags: O_RDONLY, purpose: "the file") }
        #expect(message?.contains("is not a regular file") == true)
    }

    @Test func anOrdinaryFileIsCreatedWithTheModeAndBlocking() throws {
        let scratch = try Directory()
        let path = "\(scratch.path)/new"
        var descriptor: Int32 = -1
        #expect(refusal { () throws(UntrustedPathError) in descriptor = try SafeFile.open(path, flags: O_RDWR | O_CREAT, mode: 0o600) } == nil)
        defer { close(descriptor) }
        var info = stat()
        #expect(fstat(descriptor, &info) == 0)
        #expect(info.st_mode & 0o777 == 0o600)
        #expect(fcntl(descriptor, F_GETFL) & O_NONBLOCK == 0)
        #expect(fcntl(descriptor, F_GETFD) & FD_CLOEXEC != 0)
    }
}
