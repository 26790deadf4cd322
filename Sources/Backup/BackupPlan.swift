import CGit2
import Foundation
public import OpsConfig

/// What one backup does, resolved from the `backup:` section: names, paths and the branch.
public struct BackupPlan: Sendable, Equatable {
    /// One database and the name it has in the repository (`db/<name>/`).
    public struct DatabaseSource: Sendable, Equatable {
        /// The name: the file name without its extension (`/srv/app/tickets.db` → `tickets`).
        public var name: String
        /// The live database file.
        public var path: String
    }

    /// The bare repository.
    public var repository: String
    /// Where snapshots and the previous snapshot of each database are kept between backups.
    public var workDirectory: String
    /// opsd's state directory (`daemon.state_dir`), whose owner is opsd's user.
    public var stateDirectory: String
    /// The branch, `{hostname}` already replaced.
    public var branch: String
    /// The databases, in config order.
    public var databases: [DatabaseSource]
    /// Files and directories taken as they are.
    public var files: [String]
    /// Glob patterns (fnmatch) of paths or file names to leave out.
    public var exclude: [String]
    /// The remote, if any.
    public var remote: RemoteSpec?
    /// The host name in the commit author (`opsd <opsd@HOST>`).
    public var host: String
    /// Files the configuration names as secrets: never stored, even inside a backed-up directory.
    public var secretFiles: [ConfigSecrets.SecretFile] = []
    /// The configuration file the backup runs from: stored with its secret values masked.
    public var configPath: String?
    /// `backup.before`: commands run in order before the snapshots.
    public var before: [[String]] = []
    /// `backup.before_timeout`: how long each may run.
    public var beforeTimeout: Duration = .seconds(300)
    /// `backup.encrypt`: the age recipients every pushed object is encrypted to; empty: plaintext.
    var recipients: [AgeRecipient] = []
    /// The age identity file (`--identity`) that opens an encrypted remote's backups; nil: none
    /// (the host's own pushes are still known to it, but nothing else on the remote).
    public var identityFile: String?

    /// Resolves `spec`; `stateDirectory` is `daemon.state_dir`.
    public init(spec: BackupSpec, stateDirectory: String, host: String = BackupPlan.hostName()) throws(BackupError) {
        repository = spec.repository
        workDirectory = (stateDirectory as NSString).appendingPathComponent("backup")
        self.stateDirectory = stateDirectory
        self.host = host
        let template = spec.remote?.branch ?? "{hostname}"
        branch = template.replacingOccurrences(of: "{hostname}", with: host)
        guard git_reference_is_valid_name("refs/heads/" + branch) != 0 else {
            throw BackupError("backup.remote.branch \"\(branch)\" is not a valid git branch name; use letters, digits, '-', '_' and '/'")
        }
        var seen: [String: String] = [:]
        databases = []
        for path in spec.databases {
            let name = Self.databaseName(path)
            if let other = seen[name] {
                throw BackupError("backup.databases: \(other) and \(path) would both be stored as \"\(name)\"; give one of the files another name")
            }
            seen[name] = path
            databases.append(DatabaseSource(name: name, path: path))
        }
        files = spec.files
        exclude = spec.exclude
        before = spec.before
        beforeTimeout = spec.beforeTimeout
        remote = spec.remote
        if let encrypt = spec.encrypt {
            for (index, text) in encrypt.recipients.enumerated() { recipients.append(try AgeRecipient(text, origin: "backup.encrypt.recipients[\(index)]")) }
            if let file = encrypt.recipientsFile { recipients += try AgeRecipient.load(file: file, key: "backup.encrypt.recipients_file") }
            guard !recipients.isEmpty else {
                throw BackupError("backup.encrypt names no recipient (recipients_file \(encrypt.recipientsFile ?? "") is empty); add an age1… line, or remove encrypt:")
            }
        }
        if let remote = spec.remote, remote.tokenFile != nil || remote.tokenEnv != nil, remote.url.lowercased().hasPrefix("http://") {
            throw BackupError("backup.remote.url \(remote.url) is plain http://, which would send the token of \(remote.tokenFile != nil ? "token_file" : "token_env") in clear text; use an https:// URL")
        }
    }

    /// The repository name of a database file: its file name without extension, limited to
    /// characters that need no quoting in a shell or a tree path.
    static func databaseName(_ path: String) -> String {
        let file = ((path as NSString).lastPathComponent as NSString).deletingPathExtension
        let allowed = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-")
        let name = String(file.map { allowed.contains($0) ? $0 : "_" })
        return name.isEmpty || name.hasPrefix(".") ? "db" + name : name
    }

    /// This machine's host name (the default branch and the author's e-mail domain).
    public static func hostName() -> String {
        var buffer = [CChar](repeating: 0, count: 256)
        guard gethostname(&buffer, buffer.count) == 0 else { return "localhost" }
        let name = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        return name.isEmpty ? "localhost" : name
    }

    /// The branch reference.
    var reference: String { "refs/heads/" + branch }
    /// The remote-tracking reference that records what the remote has (with encryption, the
    /// plaintext commit whose mirror the remote has).
    var remoteReference: String { "refs/remotes/origin/" + branch }
    /// True when pushes are encrypted (`backup.encrypt`).
    var encrypts: Bool { !recipients.isEmpty }
}
