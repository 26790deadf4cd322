import FileSafety
import Glibc

/// The control socket: its directory trusted as opsd trusts it (`TrustedDirectory`), and the
/// socket itself not writable by every user (opsd makes it 0660: its group may control opsd).
struct SocketDoctorCheck: DoctorCheck {
    func run(in context: DoctorContext) async -> [DoctorFinding] {
        let socket = context.socket
        let directory = Self.directory(of: socket)
        guard FileFacts.of(directory) != nil else {
            // Under systemd, RuntimeDirectory= removes it while opsd is stopped.
            return [.skipped("socket", "the socket directory \(directory) does not exist (opsd is not running; it is made when opsd starts)")]
        }
        do throws(UntrustedPathError) {
            try TrustedDirectory.check(directory, purpose: "the socket directory", trusting: context.serviceOwner)
        } catch {
            return [error.finding("socket")]
        }
        guard let facts = FileFacts.of(socket) else {
            return [.skipped("socket", "\(socket) does not exist (opsd is not running), so only its directory \(directory) was checked")]
        }
        guard facts.mode & S_IFMT == S_IFSOCK else {
            return [.fail("socket", "\(socket) is not a socket", fix: "remove it and restart opsd, which creates its socket there")]
        }
        guard facts.permissions & S_IWOTH == 0 else {
            return [.fail(
                "socket", "\(socket) has mode \(facts.octal), so every user on this host can control opsd",
                fix: "restart opsd, which creates the socket with mode 0660, and find what changed its mode")]
        }
        return [.ok("socket", "\(socket) (mode \(facts.octal)) in a directory only root and opsd's user can change")]
    }

    static func directory(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        return slash == path.startIndex ? "/" : String(path[..<slash])
    }
}
