import FoundationEssentials
import Glibc
import Synchronization

/// What to start: a program, its arguments and its surroundings, as the spawner receives it.
/// Only ``LaunchRecipe/request()`` makes one outside this module (the initializer and the setters
/// are internal), so no child of opsd escapes the recipe's rules for its environment.
///
/// Names are looked up where the fork happens (``resolved()``, on `ChildProcesses`'s spawner
/// thread in opsd), not where the request is made: a user lookup may wait on NSS (LDAP, sssd),
/// and the caller is often an actor on an event loop.
public struct SpawnRequest: Sendable {
    /// The program: a path (with a slash), or a name looked up along `environment`'s PATH.
    public internal(set) var executable: String
    /// The full argv, including argv[0].
    public internal(set) var arguments: [String]
    /// The complete environment.
    public internal(set) var environment: [String: String]
    /// The working directory, if not opsd's.
    public internal(set) var workingDirectory: String?
    /// The user to run as, by name, with its primary group; nil: opsd's own user.
    public internal(set) var user: String?
    /// The group to run as, by name, instead of the user's primary group; nil: the user's (or opsd's).
    public internal(set) var group: String?
    /// The file mode creation mask, if set.
    public internal(set) var umask: UInt32?
    /// Where the child's stdout and stderr go; nil means /dev/null. Handed over: the spawner
    /// closes it once the child has its copy, or the start has failed, so the caller never does.
    public internal(set) var output: Int32?
    /// Where the child's stdin comes from; nil means /dev/null. Handed over like `output`.
    public internal(set) var input: Int32?
    /// rlimits the child sets before it execs (`limits:`).
    public internal(set) var resourceLimits: [ChildResourceLimit] = []
    /// The cgroup the child joins before it execs; held here so its descriptor stays open until then.
    public internal(set) var cgroup: WorkerCgroup?

    /// Creates a request; tests and the recipe only.
    init(
        executable: String, arguments: [String], environment: [String: String], workingDirectory: String? = nil,
        user: String? = nil, group: String? = nil, umask: UInt32? = nil, output: Int32? = nil, input: Int32? = nil
    ) {
        self.executable = executable
        self.arguments = arguments
        self.environment = environment
        self.workingDirectory = workingDirectory
        self.user = user
        self.group = group
        self.umask = umask
        self.output = output
        self.input = input
    }
}

extension SpawnRequest {
    /// opsd's environment minus what belongs to opsd alone: its systemd notify socket, watchdog,
    /// socket activation and journal stream, and the variables its configuration reads secrets
    /// from (`withholdFromChildren`). A child that inherited NOTIFY_SOCKET could tell systemd that
    /// *opsd* is ready or stopping; one that inherited a check's `{env: API_TOKEN}` would hold a
    /// secret it was never given.
    public static func inheritedEnvironment() -> [String: String] {
        inheritedEnvironment(from: ProcessInfo.processInfo.environment)
    }

    /// `environment` minus opsd's own variables and the withheld names: the rule of
    /// ``inheritedEnvironment()``, applied to an environment other than this process's own.
    static func inheritedEnvironment(from environment: [String: String]) -> [String: String] {
        var environment = environment
        for key in ["NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID", "LISTEN_FDS", "LISTEN_PID", "LISTEN_FDNAMES", "JOURNAL_STREAM", "INVOCATION_ID"] {
            environment.removeValue(forKey: key)
        }
        for key in withheld.withLock({ $0 }) { environment.removeValue(forKey: key) }
        return environment
    }

    /// Keeps these variables of opsd's environment from every child it starts from now on: the
    /// names the configuration takes secrets from. Set at start and on each reload.
    public static func withholdFromChildren(_ names: Set<String>) {
        withheld.withLock { $0 = names }
    }

    private static let withheld = Mutex<Set<String>>([])

    /// Gives every child started from now on this soft limit of open descriptors: the one opsd
    /// started with, before it raised its own (`DescriptorLimit`). Programs that use select(2)
    /// cannot handle descriptors above 1024, so a raised limit is opsd's alone.
    public static func limitChildDescriptors(to softLimit: UInt) {
        childDescriptorLimit.withLock { $0 = softLimit }
    }

    static let childDescriptorLimit = Mutex<UInt?>(nil)
}

// MARK: Looking names up

/// A request's names turned into what `execve` and `setuid` take.
struct ResolvedSpawn {
    /// The executable's path.
    let path: String
    /// The ids to switch to; nil keeps opsd's.
    let ids: Credentials?
}

/// The ids a child runs with: a user, its group, and its supplementary groups.
struct Credentials: Equatable {
    let uid: UInt32
    let gid: UInt32
    /// The supplementary groups: `user:`'s memberships in the group database (with `gid`), as
    /// initgroups(3) and systemd's `User=` give them; empty for `group:` alone.
    let groups: [UInt32]
}

extension SpawnRequest {
    /// The search path when the child's environment has no PATH (execvp's default).
    static let defaultSearchPath = "/usr/local/bin:/usr/bin:/bin"

    /// The executable's path and the ids to run as; called by the spawners right before they
    /// fork, never by the code that builds the request.
    func resolved() throws(SpawnError) -> ResolvedSpawn {
        ResolvedSpawn(path: try executablePath(), ids: try ids())
    }

    /// The path of `executable`: as given when it contains a slash, else the first executable
    /// file of that name along the child's own PATH.
    func executablePath() throws(SpawnError) -> String {
        guard !executable.isEmpty else { throw SpawnError(.emptyCommand, executable: executable) }
        if executable.contains("/") {
            guard access(executable, X_OK) == 0 else { throw SpawnError(.notExecutable(errno), executable: executable) }
            return executable
        }
        let searchPath = environment["PATH"] ?? Self.defaultSearchPath
        for directory in searchPath.split(separator: ":") {
            let candidate = "\(directory)/\(executable)"
            if access(candidate, X_OK) == 0 { return candidate }
        }
        throw SpawnError(.notOnPath(searchPath), executable: executable)
    }

    /// The uid and gid for `user` (its primary group) and `group`, and `user`'s supplementary
    /// groups; nil when neither is set, so the child keeps opsd's ids and groups as before.
    func ids() throws(SpawnError) -> Credentials? {
        guard user != nil || group != nil else { return nil }
        var uid = getuid(), gid = getgid()
        if let user {
            guard let entry = try Self.lookUp(user, executable: executable, getpwnam_r, { ($0.pw_uid, $0.pw_gid) }) else {
                throw SpawnError(.unknownUser(user), executable: executable)
            }
            (uid, gid) = entry
        }
        if let group {
            guard let entry = try Self.lookUp(group, executable: executable, getgrnam_r, { $0.gr_gid }) else {
                throw SpawnError(.unknownGroup(group), executable: executable)
            }
            gid = entry
        }
        return Credentials(uid: uid, gid: gid, groups: user.map { Self.groupList(of: $0, with: gid) } ?? [])
    }

    /// `user`'s groups in the group database, `gid` first (getgrouplist(3), what initgroups
    /// sets), growing the list while it does not fit.
    static func groupList(of user: String, with gid: UInt32) -> [UInt32] {
        var count: Int32 = 32
        while true {
            var groups = [gid_t](repeating: 0, count: Int(count))
            let found = getgrouplist(user, gid, &groups, &count)
            if found >= 0 { return Array(groups.prefix(Int(count))) }
            // -1 with `count` set to the size needed; a count that did not grow is an error.
            guard count > groups.count, count <= 65536 else { return [gid] }
        }
    }

    /// One `get*nam_r` call with its buffer on the stack, grown while the entry does not fit;
    /// nil when there is no such name. The reentrant form, because `DirectSpawner` may look names
    /// up on several threads at once and getpwnam's static result would be shared between them.
    private static func lookUp<Entry, Value>(
        _ name: String, executable: String,
        _ function: (UnsafePointer<CChar>, UnsafeMutablePointer<Entry>, UnsafeMutablePointer<CChar>, Int, UnsafeMutablePointer<UnsafeMutablePointer<Entry>?>) -> Int32,
        _ value: (Entry) -> Value
    ) throws(SpawnError) -> Value? {
        var capacity = 4096
        while true {
            let (code, found): (Int32, Value?) = name.withCString { cName in
                withUnsafeTemporaryAllocation(of: Entry.self, capacity: 1) { entry in
                    withUnsafeTemporaryAllocation(of: CChar.self, capacity: capacity) { buffer in
                        // Both allocations have a capacity of at least one: never nil.
                        guard let entry = entry.baseAddress, let buffer = buffer.baseAddress else { return (ENOMEM, nil) }
                        var result: UnsafeMutablePointer<Entry>?
                        let code = function(cName, entry, buffer, capacity, &result)
                        return (code, code == 0 ? result.map { value($0.pointee) } : nil)
                    }
                }
            }
            if code == ERANGE, capacity < 1 << 20 {
                capacity *= 2
                continue
            }
            // Not found: 0 without an entry, or one of the errno values getpwnam_r(3) lists for it.
            if code == 0 || code == ENOENT || code == ESRCH || code == EBADF || code == EPERM { return found }
            throw SpawnError(.system(code), executable: executable)
        }
    }
}

/// Why a child could not be started: one sentence naming the program, the cause and, where the
/// cause is the configuration's, what to change. The same for workers, jobs, plugins and hooks.
public struct SpawnError: Error, CustomStringConvertible, Sendable, Equatable {
    /// The cause.
    public enum Reason: Sendable, Equatable {
        /// A system call refused (fork, chdir, setuid, execve…), with its errno value.
        case system(Int32)
        /// The program's path is no executable file: access(2)'s errno value.
        case notExecutable(Int32)
        /// No directory of this search path (the child's PATH) has an executable file of the name.
        case notOnPath(String)
        /// No user of this name on the host.
        case unknownUser(String)
        /// No group of this name on the host.
        case unknownGroup(String)
        /// The command has no program.
        case emptyCommand
        /// The child could not set this rlimit (errno), while opsd's own hard limit was this (nil: unlimited).
        case resourceLimit(ChildResourceLimit, Int32, opsdHardLimit: UInt64?)
        /// The child could not join its cgroup (the directory), with errno.
        case cgroup(String, Int32)
    }

    /// The cause.
    public let reason: Reason
    /// The program, as the command gives it.
    public let executable: String

    /// An error for starting `executable`.
    public init(_ reason: Reason, executable: String) {
        self.reason = reason
        self.executable = executable
    }

    /// True when a name (the program on PATH, the user, the group) was not found, or the command
    /// was empty: nothing was forked. A failed exec is not one: its child existed and exited 127.
    public var isLookupFailure: Bool {
        switch reason {
        case .notExecutable, .notOnPath, .unknownUser, .unknownGroup, .emptyCommand: true
        case .system, .resourceLimit, .cgroup: false
        }
    }

    /// `cannot start /srv/app/run: No such file or directory`
    public var description: String {
        switch reason {
        case .system(let code), .notExecutable(let code): "cannot start \(executable): \(String(cString: strerror(code)))"
        case .notOnPath(let searchPath):
            "cannot start \(executable): no executable file of that name on PATH (\(searchPath)); give its full path"
        case .unknownUser(let user): "cannot start \(executable): there is no user \"\(user)\" on this host; create it or change `user:`"
        case .unknownGroup(let group): "cannot start \(executable): there is no group \"\(group)\" on this host; create it or change `group:`"
        case .emptyCommand: "cannot start an empty command; give the program and its arguments"
        case .resourceLimit(let limit, let code, let own): "cannot start \(executable): \(limit.failure(code, opsdHardLimit: own))"
        case .cgroup(let directory, let code): "cannot start \(executable): cannot move it into its cgroup \(directory): \(String(cString: strerror(code)))"
        }
    }
}
