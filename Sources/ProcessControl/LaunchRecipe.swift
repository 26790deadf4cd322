/// How opsd starts a process: the one recipe for workers, command jobs (the backup companion
/// among them), check plugins and alert hooks, so that no kind of child drifts from the others.
///
/// The rules, all applied by ``request()`` and the spawners it feeds:
/// - the environment is opsd's own minus its systemd variables and the names the configuration
///   takes secrets from (``SpawnRequest/inheritedEnvironment()``), with `environment` on top;
/// - a program without a slash is looked up along the *child's* PATH (its environment after the
///   additions), not opsd's;
/// - the user and group are passed by name and looked up where the fork happens (the spawner
///   thread in opsd), never on the caller's event loop;
/// - `output` is handed over to the spawner, which closes it once the child has its copy;
/// - a program that cannot be found, an unknown user or group, and a failed exec are all one
///   ``SpawnError`` that says which and what to change.
public struct LaunchRecipe: Sendable {
    /// The program and its arguments (argv, argv[0] included).
    public var command: [String]
    /// Variables added to the inherited environment; they win over inherited ones of the same name.
    public var environment: [String: String]
    /// The working directory, if not opsd's.
    public var workingDirectory: String?
    /// The user to run as, by name; nil: opsd's.
    public var user: String?
    /// The group to run as, by name; nil: the user's primary group (or opsd's).
    public var group: String?
    /// The file mode creation mask, if set.
    public var umask: UInt32?
    /// The child's stdout and stderr, handed over to the spawner (see ``SpawnRequest/output``);
    /// nil: /dev/null.
    public var output: Int32?
    /// The child's stdin, handed over to the spawner like `output`; nil: /dev/null.
    public var input: Int32?
    /// rlimits set in the child before it execs (a worker's `limits:`).
    public var resourceLimits: [ChildResourceLimit] = []
    /// The cgroup the child runs in, joined before it execs (a worker's own, under delegation);
    /// nil: opsd's.
    public var cgroup: WorkerCgroup?

    /// A recipe for `command`.
    public init(
        command: [String], environment: [String: String] = [:], workingDirectory: String? = nil,
        user: String? = nil, group: String? = nil, umask: UInt32? = nil, output: Int32? = nil, input: Int32? = nil
    ) {
        self.command = command
        self.environment = environment
        self.workingDirectory = workingDirectory
        self.user = user
        self.group = group
        self.umask = umask
        self.output = output
        self.input = input
    }

    /// The request for a spawner, with opsd's environment as the inherited one.
    public func request() -> SpawnRequest {
        request(inheritingFrom: SpawnRequest.inheritedEnvironment())
    }

    /// The request with `inherited` (already stripped) under the additions: ``request()`` for a
    /// given environment.
    func request(inheritingFrom inherited: [String: String]) -> SpawnRequest {
        var request = SpawnRequest(
            executable: command.first ?? "", arguments: command, environment: inherited.merging(environment) { $1 },
            workingDirectory: workingDirectory, user: user, group: group, umask: umask, output: output, input: input)
        request.resourceLimits = resourceLimits
        request.cgroup = cgroup
        return request
    }
}
