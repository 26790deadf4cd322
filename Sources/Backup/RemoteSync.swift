import CGit2
import FileSafety
import Foundation
import Logging
import OpsConfig
import OpsLogging
import Scheduling

/// Pushes the backup branch to `backup.remote` and fetches it back, with libgit2's traps handled:
///
/// - the credentials callback is called again after every failed attempt, so attempts are counted
///   and the second one gives up with a clear error instead of looping forever;
/// - `git_remote_push` returns success even when the server rejected the reference, so each
///   reference's status is read from the push-update-reference callback;
/// - SSH host keys are checked against the configured known_hosts file in the certificate
///   callback, never accepted blindly;
/// - secrets are read from their files only inside the callback and never put in a message.
final class RemoteSync {
    let repository: GitRepository
    let spec: RemoteSpec
    let plan: BackupPlan
    let logger: Logger
    /// Hears the bytes and objects sent or received; nil where nobody watches.
    let progress: ProgressReporter?

    /// The remote's name in the repository's config, so `git push origin` works by hand too.
    static let remoteName = "origin"

    init(repository: GitRepository, plan: BackupPlan, spec: RemoteSpec, logger: Logger, progress: ProgressReporter? = nil) {
        self.repository = repository
        self.plan = plan
        self.spec = spec
        self.logger = logger
        self.progress = progress
    }

    /// Pushes the branch; retries transport failures as `retry` says. Returns how many
    /// commits the remote received (0 when it was already up to date). `force` replaces the
    /// remote's branch even when it is not an ancestor (a prune rewrote the history).
    func push(retry: RetryPolicy, force: Bool = false) throws(BackupError) -> Int {
        guard let local = try repository.resolve(reference: plan.reference) else { return 0 }
        let tracked = try repository.resolve(reference: plan.remoteReference)
        if tracked == local { return 0 }
        let ahead = try repository.commitsAhead(local, of: tracked)
        // With backup.encrypt, the encrypted mirror of the branch goes instead (see EncryptedMirror);
        // it is built on a handle of its own, whose object store takes the new packs.
        var source = plan.reference
        if plan.encrypts {
            progress?.begin("encrypt", total: nil)
            let mirror = EncryptedMirror(repository: try GitRepository.openOrCreate(at: plan.repository), plan: plan)
            guard try mirror.update(recipients: plan.recipients, force: force) != nil else { return 0 }
            source = EncryptedMirror.reference(plan.branch)
        }
        let attempts = 1 + (retry.retries ?? 0)
        for attempt in 1...attempts {
            progress?.begin("push", total: nil)
            switch pushOnce(force: force, source: source) {
            case .success:
                try repository.setReference(plan.remoteReference, to: local)
                return ahead
            case .refused(let error):
                throw error
            case .failed(let error) where retry.allows(retry: attempt):
                let delay = retry.delay(beforeRetry: attempt)
                logger.warning("backup push failed; retrying", metadata: [
                    "attempt": "\(attempt)", "retry_in": "\(delay)", "error": "\(error.description)",
                ])
                Thread.sleep(forTimeInterval: delay.seconds)
            case .failed(let error):
                throw BackupError("\(error.description) (gave up after \(attempts) attempts; the commit stays local and the next backup pushes it)")
            }
        }
        throw BackupError("the push to \(spec.url) failed")
    }

    /// Fetches the remote's branches into `refs/remotes/origin/*`. An encrypted branch is
    /// decrypted with `plan.identityFile`; without one, unless it is this host's own push, it is
    /// an error when `requireReadable` (a restore), and left out otherwise (a backup continuing it).
    func fetch(requireReadable: Bool = true) throws(BackupError) {
        // A remote on this machine is read directly: libgit2's fetch builds and indexes a pack again (LocalFetch).
        if let localPath = localRemotePath {
            progress?.begin("fetch", total: nil)
            git_remote_free(try openRemote())  // kept configured, so `git fetch origin` works by hand too
            try LocalFetch(repository: repository, remotePath: localPath, trackingPrefix: "refs/remotes/\(Self.remoteName)/").fetch()
            return try readEncryptedBranch(requireReadable: requireReadable)
        }
        let remote = try openRemote()
        defer { git_remote_free(remote) }
        progress?.begin("fetch", total: nil)
        let context = CallbackContext(spec: spec, progress: progress)
        var options = git_fetch_options()
        git_fetch_options_init(&options, UInt32(GIT_FETCH_OPTIONS_VERSION))
        context.install(in: &options.callbacks)
        options.follow_redirects = GIT_REMOTE_REDIRECT_NONE
        // A branch deleted on the remote leaves refs/remotes/origin too, so a missing branch's
        // error lists only the branches the remote has.
        options.prune = GIT_FETCH_PRUNE
        let rc = withExtendedLifetime(context) { git_remote_fetch(remote, nil, &options, "opsd: fetch backups") }
        if rc < 0 { throw context.failure(rc, action: "cannot fetch from \(spec.url)") }
        try readEncryptedBranch(requireReadable: requireReadable)
    }

    /// When the remote's branch is an encrypted mirror, points the remote-tracking branch at its
    /// plaintext: the commit this host built it from, or the decryption with `--identity`.
    /// Otherwise the remote-tracking branch is removed (nothing plaintext stands for it) and,
    /// when `requireReadable`, the error says to pass --identity.
    private func readEncryptedBranch(requireReadable: Bool) throws(BackupError) {
        guard let tip = try repository.resolve(reference: plan.remoteReference), try EncryptedMirror.isEncrypted(tip, in: repository) else { return }
        // A new machine continues the remote's encrypted branch: its next mirror commit's parent.
        if try repository.resolve(reference: EncryptedMirror.reference(plan.branch)) == nil {
            try repository.setReference(EncryptedMirror.reference(plan.branch), to: tip)
        }
        if let known = EncryptedMirror.knownSource(of: tip, repository: repository, plan: plan) {
            try repository.setReference(plan.remoteReference, to: known)
            return
        }
        if let identityFile = plan.identityFile {
            // The key opens every backup of the branch: one others can read, or swap, is refused
            // before it is used, as ssh refuses such a private key.
            do throws(UntrustedPathError) { try TrustedFile.checkPrivateKey(identityFile, purpose: "the identity file") } catch {
                throw BackupError(error.description)
            }
            let identities = try AgeIdentity.load(file: identityFile)
            progress?.begin("decrypt", total: nil)
            let plain = try EncryptedMirror(repository: try GitRepository.openOrCreate(at: plan.repository), plan: plan).decrypt(tip, identities: identities)
            try repository.setReference(plan.remoteReference, to: plain)
            return
        }
        var reference: OpaquePointer?
        if git_reference_lookup(&reference, repository.pointer, plan.remoteReference) == 0 {
            git_reference_delete(reference)
            git_reference_free(reference)
        }
        if requireReadable {
            throw BackupError("the remote \(spec.url)'s branch \(plan.branch) is encrypted (age, backup.encrypt); pass --identity FILE, the age identity file (AGE-SECRET-KEY-1…) of one of its recipients")
        }
    }

    /// How one push attempt ended. A refusal (authentication, host key, rejected reference) is not
    /// retried: the next attempt would only repeat it. Any other failure (network, server down) is.
    private enum PushResult {
        case success
        case failed(BackupError)
        case refused(BackupError)
    }

    private func pushOnce(force: Bool, source: String) -> PushResult {
        // A remote on this machine is written directly: libgit2's push deflates everything again (LocalPush).
        if let localPath = localRemotePath {
            do throws(BackupError) {
                let outcome = try LocalPush(repository: repository, remotePath: localPath, source: source, reference: plan.reference).push(force: force)
                return outcome == .pushed ? .success : .refused(notFastForward)
            } catch {
                return .failed(error)
            }
        }
        let remote: OpaquePointer
        do { remote = try openRemote() } catch { return .refused(error) }
        defer { git_remote_free(remote) }
        let context = CallbackContext(spec: spec, progress: progress)
        var options = git_push_options()
        git_push_options_init(&options, UInt32(GIT_PUSH_OPTIONS_VERSION))
        context.install(in: &options.callbacks)
        // A redirect could take the token to another server: never follow one.
        options.follow_redirects = GIT_REMOTE_REDIRECT_NONE
        let refspec = (force ? "+" : "") + "\(source):\(plan.reference)"
        let rc: Int32 = refspec.withCString { cRefspec in
            var strings: [UnsafeMutablePointer<CChar>?] = [UnsafeMutablePointer(mutating: cRefspec)]
            return strings.withUnsafeMutableBufferPointer { buffer in
                var array = git_strarray(strings: buffer.baseAddress, count: 1)
                return withExtendedLifetime(context) { git_remote_push(remote, &array, &options) }
            }
        }
        if rc < 0 {
            if RemoteSync.isLocalPath(spec.url), !FileSystem.exists(spec.url) {
                return .failed(BackupError("the remote repository \(spec.url) does not exist; create it with `git init --bare \(spec.url)` or mount it"))
            }
            if rc == GIT_ENONFASTFORWARD.rawValue {
                return .refused(notFastForward)
            }
            let error = context.failure(rc, action: "cannot push to \(spec.url)")
            // A redirect is refused for good: the remote will not stop redirecting within a retry.
            return context.refused || error.description.contains("redirect") ? .refused(error) : .failed(error)
        }
        // git_remote_push returned success, but the server may still have refused the reference.
        if let status = context.rejected[plan.reference] {
            return .refused(BackupError("the remote \(spec.url) refused \(plan.branch) (\(status)); check the remote's hooks and branch protection"))
        }
        return .success
    }

    private var notFastForward: BackupError {
        BackupError("the remote \(spec.url) refused \(plan.branch): its branch has commits this repository does not have; another machine may push to the same branch, give each host its own backup.remote.branch")
    }

    /// The directory of a remote that is a repository on this machine, nil for any other remote
    /// (and for a path where no repository is yet: libgit2's transport says what is wrong there).
    private var localRemotePath: String? {
        let path = spec.url.hasPrefix("file://") ? String(spec.url.dropFirst(7)) : spec.url
        return RemoteSync.isLocalPath(spec.url) && FileSystem.exists(path + "/objects") ? path : nil
    }

    /// True for a filesystem path (as the config loader decides it), false for URLs and `host:path`.
    static func isLocalPath(_ url: String) -> Bool {
        url.hasPrefix("/") || url.hasPrefix("file://")
    }

    private func openRemote() throws(BackupError) -> OpaquePointer {
        var remote: OpaquePointer?
        if git_remote_lookup(&remote, repository.pointer, Self.remoteName) == 0, let found = remote {
            if let url = git_remote_url(found).map({ String(cString: $0) }), url == spec.url { return found }
            git_remote_free(found)
            try gitCheck(git_remote_set_url(repository.pointer, Self.remoteName, spec.url), "cannot set the remote URL")
            try gitCheck(git_remote_lookup(&remote, repository.pointer, Self.remoteName), "cannot open the remote")
        } else {
            try gitCheck(git_remote_create(&remote, repository.pointer, Self.remoteName, spec.url), "cannot configure the remote \(spec.url)")
        }
        guard let remote else { throw BackupError("cannot open the remote \(spec.url)") }
        return remote
    }
}

/// State shared with libgit2's C callbacks through their payload pointer.
private final class CallbackContext {
    let spec: RemoteSpec
    let progress: ProgressReporter?
    var credentialAttempts = 0
    /// Why a callback refused (wrong key, unknown host key): no retry helps.
    var refusal: String?
    /// References the server refused, with its reason.
    var rejected: [String: String] = [:]

    init(spec: RemoteSpec, progress: ProgressReporter?) {
        self.spec = spec
        self.progress = progress
    }

    var refused: Bool { refusal != nil }

    func install(in callbacks: inout git_remote_callbacks) {
        callbacks.payload = Unmanaged.passUnretained(self).toOpaque()
        callbacks.credentials = credentialsCallback
        callbacks.certificate_check = certificateCallback
        callbacks.push_update_reference = pushUpdateReferenceCallback
        // Only when someone watches: libgit2 calls these for every object.
        if progress != nil {
            callbacks.push_transfer_progress = pushTransferCallback
            callbacks.transfer_progress = fetchTransferCallback
        }
    }

    /// The error for a failed libgit2 call: our own refusal when a callback refused, else libgit2's message.
    func failure(_ code: Int32, action: String) -> BackupError {
        if let refusal { return BackupError(refusal) }
        let detail = git_error_last().flatMap { $0.pointee.message.map { String(cString: $0) } } ?? "libgit2 error \(code)"
        return BackupError("\(action): \(detail)")
    }

    static func from(_ payload: UnsafeMutableRawPointer?) -> CallbackContext? {
        payload.map { Unmanaged<CallbackContext>.fromOpaque($0).takeUnretainedValue() }
    }
}

private let credentialsCallback: git_credential_acquire_cb = { out, url, usernameFromURL, allowedTypes, payload in
    guard let context = CallbackContext.from(payload) else { return GIT_EUSER.rawValue }
    // Credentials go only to the configured server (scheme, host and port), wherever a
    // redirect or a changed remote URL would send them.
    let asking = url.map { String(cString: $0) } ?? ""
    guard let configured = RemoteEndpoint(context.spec.url), RemoteEndpoint(asking) == configured else {
        context.refusal = "\(RemoteEndpoint(asking)?.description ?? "another server") asked for the credentials of \(context.spec.url); opsd gives them only to the configured server (a redirect is never followed)"
        return GIT_EAUTH.rawValue
    }
    let user = usernameFromURL.map { String(cString: $0) }
    if allowedTypes & GIT_CREDENTIAL_USERNAME.rawValue != 0 {
        return git_credential_username_new(out, user ?? "git")
    }
    context.credentialAttempts += 1
    // libgit2 asks again after every rejected credential; the same key or token cannot succeed twice.
    guard context.credentialAttempts == 1 else {
        let named = context.spec.sshKey.map { "ssh_key \($0)" } ?? context.spec.tokenFile.map { "token_file \($0)" } ?? context.spec.tokenEnv.map { "token_env \($0)" }
        context.refusal = "the remote \(context.spec.url) rejected the credentials (\(named ?? "none configured")); check that the remote accepts them"
        return GIT_EAUTH.rawValue
    }
    if allowedTypes & GIT_CREDENTIAL_SSH_KEY.rawValue != 0, let key = context.spec.sshKey {
        return git_credential_ssh_key_new(out, user ?? "git", nil, key, nil)
    }
    if allowedTypes & GIT_CREDENTIAL_USERPASS_PLAINTEXT.rawValue != 0, let tokenFile = context.spec.tokenFile {
        guard let token = try? String(contentsOfFile: tokenFile, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines), !token.isEmpty else {
            context.refusal = "cannot read a token from backup.remote.token_file \(tokenFile); put the token alone in that file"
            return GIT_EAUTH.rawValue
        }
        return git_credential_userpass_plaintext_new(out, user ?? "x-access-token", token)
    }
    if allowedTypes & GIT_CREDENTIAL_USERPASS_PLAINTEXT.rawValue != 0, let name = context.spec.tokenEnv {
        // Read here, only when the server asks, and never put in a message: only its name is.
        let token = ProcessInfo.processInfo.environment[name]?.trimmingCharacters(in: .whitespacesAndNewlines) ?? ""
        guard !token.isEmpty else {
            context.refusal = "backup.remote.token_env names \(name), which is \(ProcessInfo.processInfo.environment[name] == nil ? "not set" : "empty") in this process's environment; set it to the token in opsd's environment (and in yours for `opsctl backup`), or use token_file"
            return GIT_EAUTH.rawValue
        }
        return git_credential_userpass_plaintext_new(out, user ?? "x-access-token", token)
    }
    context.refusal = "the remote \(context.spec.url) asks for credentials, but backup.remote has no \(allowedTypes & GIT_CREDENTIAL_SSH_KEY.rawValue != 0 ? "ssh_key" : "token_file or token_env"); add one"
    return GIT_EAUTH.rawValue
}

private let certificateCallback: git_transport_certificate_check_cb = { cert, valid, host, payload in
    guard let context = CallbackContext.from(payload), let cert else { return GIT_EUSER.rawValue }
    let hostName = host.map { String(cString: $0) } ?? "?"
    guard cert.pointee.cert_type == GIT_CERT_HOSTKEY_LIBSSH2 else {
        // TLS: libgit2 has checked the chain against the system's CAs; accept only what it accepted.
        if valid != 0 { return 0 }
        context.refusal = "the TLS certificate of \(hostName) is not valid; fix the server's certificate or the system's CA store"
        return GIT_ECERTIFICATE.rawValue
    }
    guard let knownHostsPath = context.spec.knownHosts else {
        context.refusal = "backup.remote.known_hosts is not set, and opsd never accepts an SSH host key blindly; create one with ssh-keyscan and name it there"
        return GIT_ECERTIFICATE.rawValue
    }
    let hostKey = UnsafeRawPointer(cert).assumingMemoryBound(to: git_cert_hostkey.self).pointee
    guard hostKey.type.rawValue & GIT_CERT_SSH_RAW.rawValue != 0, let raw = hostKey.hostkey else {
        context.refusal = "libgit2 did not provide \(hostName)'s raw host key, so it cannot be checked; refusing the connection"
        return GIT_ECERTIFICATE.rawValue
    }
    let key = Array(UnsafeRawBufferPointer(start: raw, count: hostKey.hostkey_len))
    do throws(BackupError) {
        let knownHosts = try KnownHosts(path: knownHostsPath)
        if knownHosts.accepts(host: hostName, port: sshPort(of: context.spec.url), key: key) { return 0 }
        context.refusal = "the SSH host key of \(hostName) is not in \(knownHostsPath); if the server's key changed on purpose, update that file (ssh-keyscan), otherwise someone may be intercepting the connection"
    } catch {
        context.refusal = error.description
    }
    return GIT_ECERTIFICATE.rawValue
}

private let pushUpdateReferenceCallback: git_push_update_reference_cb = { reference, status, payload in
    guard let context = CallbackContext.from(payload), let reference else { return 0 }
    if let status { context.rejected[String(cString: reference)] = String(cString: status) }
    return 0
}

private let pushTransferCallback: git_push_transfer_progress_cb = { current, total, bytes, payload in
    guard let context = CallbackContext.from(payload) else { return 0 }
    // A push to a path writes the pack straight into the other repository, and libgit2 counts no
    // bytes sent there: the objects say how far it got.
    let sent = RemoteSync.isLocalPath(context.spec.url) ? 0 : Int(bytes)
    context.progress?.update(done: sent, items: (Int(current), Int(total)))
    return 0
}

private let fetchTransferCallback: git_indexer_progress_cb = { stats, payload in
    guard let stats, let context = CallbackContext.from(payload) else { return 0 }
    context.progress?.update(done: Int(stats.pointee.received_bytes), items: (Int(stats.pointee.received_objects), Int(stats.pointee.total_objects)))
    return 0
}

/// The port of an SSH URL (`ssh://user@host:2222/path`); 22 for scp-like addresses.
func sshPort(of url: String) -> Int {
    guard let scheme = url.range(of: "://") else { return 22 }
    let rest = url[scheme.upperBound...]
    let authority = rest.prefix { $0 != "/" }
    let hostPort = authority.split(separator: "@").last ?? authority[...]
    if hostPort.hasPrefix("["), let close = hostPort.firstIndex(of: "]") {
        return Int(hostPort[hostPort.index(after: close)...].dropFirst()) ?? 22
    }
    guard let colon = hostPort.lastIndex(of: ":") else { return 22 }
    return Int(hostPort[hostPort.index(after: colon)...]) ?? 22
}

/// The server part of a remote URL: scheme, host and port, which credentials are bound to.
struct RemoteEndpoint: Equatable, CustomStringConvertible {
    var scheme: String
    var host: String
    var port: Int

    /// Parses `scheme://[user@]host[:port]/…` and scp-like `user@host:path`; nil for a local path.
    init?(_ url: String) {
        if let separator = url.range(of: "://") {
            scheme = url[..<separator.lowerBound].lowercased()
            let authority = url[separator.upperBound...].prefix { $0 != "/" && $0 != "?" && $0 != "#" }
            var hostPort = authority.split(separator: "@", omittingEmptySubsequences: false).last.map(String.init) ?? ""
            port = ["https": 443, "http": 80, "ssh": 22, "git": 9418][scheme] ?? 0
            if hostPort.hasPrefix("["), let close = hostPort.firstIndex(of: "]") {
                let rest = hostPort[hostPort.index(after: close)...]
                if rest.hasPrefix(":") { port = Int(rest.dropFirst()) ?? -1 }
                hostPort = String(hostPort[...close])
            } else if let colon = hostPort.lastIndex(of: ":") {
                port = Int(hostPort[hostPort.index(after: colon)...]) ?? -1
                hostPort = String(hostPort[..<colon])
            }
            host = hostPort.lowercased()
        } else {
            guard !url.hasPrefix("/"), let colon = url.firstIndex(of: ":") else { return nil }
            scheme = "ssh"
            host = (url[..<colon].split(separator: "@").last.map(String.init) ?? "").lowercased()
            port = 22
        }
        guard !host.isEmpty else { return nil }
    }

    var description: String { "\(scheme)://\(host):\(port)" }
}
