import ControlPlane
import FileSafety
import FoundationEssentials
import Glibc
import OpsAPI
import OpsConfig

/// What every doctor check may look at, gathered once: the configuration as loaded, opsd's
/// status when it answers (or why it does not), and opsd's user.
struct DoctorContext: Sendable {
    /// The configuration file and what loading it gave (with problems, the parts that were valid).
    let load: ConfigLoader.Result
    /// The control socket: --socket, else the configuration's.
    let socket: String
    /// opsd's status, or the sentence saying why it could not be had.
    let status: Result<StatusReport, DaemonUnreachable>
    /// The unit opsd runs as under systemd, for the unit's checks.
    let unit: String
    /// Where to look for systemd's own state (`/run/systemd/system` on a host booted with systemd).
    let systemdRuntime: String
    /// The unit as systemd has loaded it, or nil (then ``unitAbsence`` says why).
    let installedUnit: InstalledUnit?
    /// Whether the remote may be contacted (`--remote`): a fetch, slow and visible to its server.
    var contactRemote = false

    /// A unit file systemd has loaded, and the properties the checks read.
    struct InstalledUnit: Sendable {
        /// Its file (`FragmentPath`).
        let file: String
        /// `systemctl show`'s answer, by property.
        let properties: [String: String]

        /// The properties `systemctl show` is asked for.
        static let propertyNames = ["LoadState", "FragmentPath", "Delegate"]
    }

    /// Why there is no ``installedUnit``: the reason a unit check is skipped.
    var unitAbsence: String {
        systemdBooted
            ? "systemd has no \(unit) loaded (systemctl show \(unit)), so opsd does not run as that unit here; pass --unit NAME if it runs under another"
            : "systemd is not the init system here (no \(systemdRuntime)), so there is no unit to check"
    }

    var configuration: Configuration { load.configuration }

    /// Whether systemd is the init system here, as sd_booted(3) decides.
    var systemdBooted: Bool { FileFacts.of(systemdRuntime)?.isDirectory == true }

    /// The user opsd runs as: the owner of its state directory (opsd creates it), when that is a
    /// user other than root whose directory it really is. Root and this user are trusted owners.
    var serviceOwner: uid_t? { TrustedDirectory.serviceOwner(of: configuration.daemon.stateDirectory) }

    /// The sentence for a failure opsctl could not get opsd's status with.
    struct DaemonUnreachable: Error, Sendable {
        let description: String
        /// True when nothing listens (opsd is stopped), not a broken or foreign answer.
        let notRunning: Bool
    }

    /// Gathers the context: loads `configPath` and asks opsd on `socket` (when nil, the
    /// configuration's) for its status.
    static func gather(configPath: String, socket: String?, unit: String, systemdRuntime: String = "/run/systemd/system") async -> DoctorContext {
        let load = ConfigLoader.read(path: configPath)
        let socket = socket ?? load.configuration.daemon.socket
        let status: Result<StatusReport, DaemonUnreachable>
        do {
            let response = try await ControlClient(socketPath: socket, timeout: .seconds(10)).send(ControlRequest(method: "GET", path: "/v1/status"))
            status = .success(try response.decoded(StatusReport.self))
        } catch let error as ControlClientError {
            status = .failure(DaemonUnreachable(description: error.description, notRunning: error.isNotRunning))
        } catch {
            status = .failure(DaemonUnreachable(description: "\(error)", notRunning: false))
        }
        let booted = FileFacts.of(systemdRuntime)?.isDirectory == true
        return DoctorContext(
            load: load, socket: socket, status: status, unit: unit, systemdRuntime: systemdRuntime,
            installedUnit: booted ? await installed(unit) : nil)
    }

    /// The unit, when systemd has loaded it from a file.
    private static func installed(_ unit: String) async -> InstalledUnit? {
        let arguments = ["systemctl", "show", unit] + InstalledUnit.propertyNames.flatMap { ["-p", $0] }
        guard let result = await DoctorCommand.run(arguments), result.code == 0 else { return nil }
        var properties: [String: String] = [:]
        for line in result.output.split(separator: "\n") {
            let pair = line.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            if pair.count == 2 { properties[String(pair[0])] = String(pair[1]) }
        }
        guard properties["LoadState"] == "loaded", let file = properties["FragmentPath"], !file.isEmpty else { return nil }
        return InstalledUnit(file: file, properties: properties)
    }
}

/// What lstat(2) says about a path, in the words the checks need.
struct FileFacts: Sendable {
    let mode: mode_t
    let owner: uid_t

    var permissions: mode_t { mode & 0o7777 }
    var isDirectory: Bool { mode & S_IFMT == S_IFDIR }
    var octal: String { "0" + String(permissions, radix: 8) }

    /// The facts of `path` itself (a symbolic link is not followed), nil when it does not exist.
    static func of(_ path: String) -> FileFacts? {
        var info = stat()
        guard lstat(path, &info) == 0 else { return nil }
        return FileFacts(mode: info.st_mode, owner: info.st_uid)
    }
}

extension UntrustedPathError {
    /// The refusal as a finding: its sentence names the fault and, after the last "; ", the fix.
    func finding(_ name: String) -> DoctorFinding {
        let parts = description.split(separator: "; ", omittingEmptySubsequences: false)
        guard parts.count > 1, let fix = parts.last else {
            return .fail(name, description, fix: "make the directory owned by root or opsd's user and writable by nobody else")
        }
        return .fail(name, parts.dropLast().joined(separator: "; "), fix: String(fix))
    }
}
