import ArgumentParser
import BuildInfo
import StateStore

extension Opsctl {
    /// `opsctl --version` prints what `VersionReport` knows (the commit, and the SQLite, libgit2 and
    /// systemd this run uses) rather than ArgumentParser's bare version string; everything else
    /// goes to ArgumentParser as before. libgit2's version comes from the companion, which opsctl
    /// asks, so opsctl still loads neither libgit2 nor libsystemd.
    static func main() async {
        if asksForVersion(Array(CommandLine.arguments.dropFirst())) {
            print(await VersionReport(program: "opsctl", sqlite: Database.libraryVersion).text)
            return
        }
        await main(nil)
    }

    /// True where ArgumentParser would print its version: `--version` among opsctl's own
    /// arguments (`opsctl --config F --version`, `opsctl status --version`), not after `--` or
    /// a word whose arguments belong to the backup companion, and not beside a request for help.
    static func asksForVersion(_ arguments: [String]) -> Bool {
        for argument in arguments {
            switch argument {
            case "--version": return !arguments.contains { ["-h", "--help", "help"].contains($0) }
            case "--", "backup", "restore": return false
            default: continue
            }
        }
        return false
    }
}
