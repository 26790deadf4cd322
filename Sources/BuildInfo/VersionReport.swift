import CBuildInfo
import Glibc
import OpsConfig
import ProcessControl

/// What `--version` prints for opsd, opsctl and opsctl-backup: the version, the commit the binary
/// was built from, and the SQLite, libgit2 and systemd this run is using.
///
/// Runtime versions, not build-time ones: a distribution upgrade of libsqlite3 shows here without
/// a rebuild. libgit2 is loaded by opsctl-backup alone (opsd and opsctl ask it, so they never load
/// it); systemd's is the running manager's (`systemctl show -p Version`), so neither opsctl nor
/// the companion loads libsystemd for it.
public struct VersionReport: Sendable {
    /// The program's name, first on the first line.
    public var program: String
    /// `sqlite3_libversion()` of the process.
    public var sqlite: String
    /// libgit2's version, with where it was read when that is not this process.
    public var libgit2: String
    /// The running systemd's version, or a sentence saying there is none.
    public var systemd: String

    /// Creates a report; `libgit2` defaults to asking the companion beside this executable.
    public init(program: String, sqlite: String, libgit2: String? = nil) async {
        self.program = program
        self.sqlite = sqlite
        if let libgit2 { self.libgit2 = libgit2 } else { self.libgit2 = await Self.companionLibgit2() }
        self.systemd = await Self.systemdVersion()
    }

    /// The four lines `--version` prints.
    public var text: String {
        """
        \(program) \(opsVersion), \(Self.commit)
        SQLite \(sqlite)
        libgit2 \(libgit2)
        systemd \(systemd)
        """
    }

    /// "commit 0123456789ab" when scripts/stamp-commit.sh stamped the binary; otherwise what kind of
    /// build this is, since the commit is not known.
    public static var commit: String {
        let stamped = String(cString: ops_build_commit())
        if !stamped.isEmpty { return "commit \(stamped)" }
        #if DEBUG
        return "commit unknown (debug build)"
        #else
        return "commit unknown (not stamped by scripts/release.sh)"
        #endif
    }

    /// The libgit2 line of `opsctl-backup --version`, run from beside this executable.
    static func companionLibgit2() async -> String {
        let companion = Companion.path(of: Companion.backup)
        guard let outcome = try? await CommandRunner(spawner: DirectSpawner()).run([companion, "--version"]),
              outcome.status == .exited(0),
              let line = outcome.output.split(separator: "\n").first(where: { $0.hasPrefix("libgit2 ") })
        else { return "unknown (\(companion), which links it, did not answer --version)" }
        return line.dropFirst("libgit2 ".count).split(separator: " ").first.map { "\($0) (in \(Companion.backup))" } ?? "unknown"
    }

    /// The running manager's version, as systemd reports it; sd_booted()'s test for whether there is one.
    static func systemdVersion() async -> String {
        guard access("/run/systemd/system", F_OK) == 0 else { return "none (not running under systemd)" }
        guard let outcome = try? await CommandRunner(spawner: DirectSpawner()).run(["systemctl", "show", "--property=Version", "--value"]),
              outcome.status == .exited(0)
        else { return "unknown (systemctl show -p Version did not answer)" }
        let version = outcome.output.split(separator: "\n").first.map(String.init) ?? ""
        return version.isEmpty ? "unknown (systemctl show -p Version said nothing)" : "\(version) (the running manager)"
    }
}
