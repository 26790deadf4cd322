import ArgumentParser
import BuildInfo
import StateStore

extension Opsctl {
    /// `opsctl --version` prints what `VersionReport` knows (the commit, and the SQLite, libgit2 and
    /// systemd this run uses) rather than ArgumentParser's bare version string; everything else
    /// goes to ArgumentParser as before. libgit2's version comes from the companion, which opsctl
    /// asks, so opsctl still loads neither libgit2 nor libsystemd.
    static func main() async {
        if Array(CommandLine.arguments.dropFirst()) == ["--version"] {
            print(await VersionReport(program: "opsctl", sqlite: Database.libraryVersion).text)
            return
        }
        await main(nil)
    }
}
