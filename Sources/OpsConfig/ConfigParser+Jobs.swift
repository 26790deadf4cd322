import FoundationEssentials
import Glibc
import Scheduling

// MARK: jobs

extension ConfigParser {
    static let jobActions = ["command", "sqlite", "prune", "backup"]

    /// One entry of `jobs:`; `backupDeclared` says whether the file has a `backup:` section, which
    /// a backup job takes its databases and repository from.
    func job(_ node: Node, at path: String, backupDeclared: Bool) -> JobSpec? {
        guard let fields = reader.fields(node, at: path, allowed: ConfigKeys.job) else { return nil }
        let name = fields.required("name").flatMap { self.name($0, at: fields.keyPath("name")) }
        let trigger = jobTrigger(fields, at: path)
        let action = jobAction(fields, at: path)
        if action == .backup, !backupDeclared {
            reader.report(fields.keyPath("backup"), "takes a backup as the backup: section describes, but there is none; add a backup: section", at: fields["backup"] ?? node)
        }
        guard let name, let trigger, let action else { return nil }
        var spec = JobSpec(name: name, trigger: trigger, action: action)
        spec.jitter = fields.optional("jitter", reader.duration)
        spec.catchUp = fields.optional("catch_up", reader.bool) ?? false
        spec.misfireGrace = fields.optional("misfire_grace", reader.duration)
        spec.timeout = fields.optional("timeout", reader.duration)
        spec.retries = fields.optional("retries") { reader.integer($0, at: $1, in: 0...100) } ?? 0
        if let backoff = fields.optional("retry_backoff", durationRange) { spec.retryBackoff = backoff }
        spec.runAtStart = fields.optional("run_at_start", reader.bool) ?? false
        // The workers' `stop:` parsing, with a job's own defaults (SIGTERM, 5 s).
        if let node = fields["stop"] { spec.stop = stopPolicy(node, at: fields.keyPath("stop"), defaults: JobSpec.defaultStop) }
        // A lock's name becomes a file name in the state directory: the rules of every other name.
        spec.lock = fields.optional("lock", self.name)
        if let policy = fields.optional("on_lock", { reader.choice($0, at: $1, as: LockPolicy.self) }) { spec.onLock = policy }
        if fields["on_lock"] != nil, fields["lock"] == nil {
            reader.report(fields.keyPath("on_lock"), "has no effect without lock:; add lock: NAME (shared with the jobs this one must not overlap) or remove it", at: fields["on_lock"])
        }
        for (key, set) in [("catch_up", spec.catchUp), ("run_at_start", spec.runAtStart)] where set && trigger == .startup {
            reader.report(fields.keyPath(key), "has no meaning for @reboot, which runs at every start anyway; remove it", at: fields[key])
        }
        return spec
    }

    /// `schedule:` (cron, macro or @reboot, read in `timezone:`) or `every:`, exactly one.
    private func jobTrigger(_ fields: Fields, at path: String) -> Trigger? {
        let zone = fields.optional("timezone", zoneNamed) ?? .utc
        switch (fields["schedule"], fields["every"]) {
        case (nil, nil):
            reader.report(path, "has no schedule; add schedule: \"0 3 * * *\" (cron), schedule: \"@daily\", or every: 10m", at: fields.node)
            return nil
        case (.some, .some):
            reader.report(path, "has both schedule and every; keep one", at: fields.node)
            return nil
        case (let node?, nil):
            return trigger(node, at: fields.keyPath("schedule"), zone: zone)
        case (nil, let node?):
            if fields["timezone"] != nil {
                reader.report(fields.keyPath("timezone"), "has no effect on an interval (every:); remove it or use schedule:", at: fields["timezone"])
            }
            return reader.interval(node, at: fields.keyPath("every"), atLeast: JobSpec.minimumEvery).map { .interval($0) }
        }
    }

    /// A cron expression, macro or `@reboot`, checked with the scheduler's own parser.
    func trigger(_ node: Node, at path: String, zone: Zone) -> Trigger? {
        guard let text = reader.nonEmptyString(node, at: path) else { return nil }
        do {
            let trigger = try Trigger.parse(text, zone: zone)
            if case .interval = trigger {
                reader.report(path, "\(NodeReader.quote(text)) is an interval; write it as every: \(text)", at: node)
                return nil
            }
            return trigger
        } catch {
            reader.report(path, "\(error.reason); check it with `opsctl schedule preview '\(text)'`", at: node)
            return nil
        }
    }

    func zoneNamed(_ node: Node, at path: String) -> Zone? {
        guard let text = reader.nonEmptyString(node, at: path) else { return nil }
        guard let zone = Trigger.zone(named: text) else {
            reader.report(path, "\(NodeReader.quote(text)) is not a time zone in /usr/share/zoneinfo; use an IANA name such as Europe/Berlin or UTC", at: node)
            return nil
        }
        return zone
    }

    private func jobAction(_ fields: Fields, at path: String) -> JobAction? {
        let present = Self.jobActions.filter { fields.values[$0] != nil }
        guard present.count == 1 else {
            reader.report(
                path, present.isEmpty ? "does nothing; add one of: \(Self.jobActions.joined(separator: ", "))" : "has \(present.joined(separator: " and ")); a job does one thing",
                at: fields.node)
            return nil
        }
        let key = present[0]
        if key != "command" {
            for processKey in ["cwd", "environment", "environment_file", "user", "group", "stop"] where fields[processKey] != nil {
                reader.report(fields.keyPath(processKey), "applies to command jobs only; remove it", at: fields[processKey])
            }
        }
        switch key {
        case "command":
            guard let argv = fields.optional("command", command) else { return nil }
            var spec = CommandSpec(
                command: argv,
                workingDirectory: fields.optional("cwd", reader.path),
                environment: fields.optional("environment", environment) ?? [:],
                user: fields.optional("user", reader.nonEmptyString),
                group: fields.optional("group", reader.nonEmptyString))
            spec.environmentFiles = fields.optional("environment_file", environmentFiles) ?? []
            spec.environment.merge(fileEnvironment(spec.environmentFiles, at: fields.keyPath("environment_file"), node: fields["environment_file"])) { $1 }
            return .command(spec)
        case "sqlite":
            guard let node = fields.values["sqlite"] else { return nil }
            return maintenance(node, at: fields.keyPath("sqlite")).map { .sqlite($0) }
        case "prune":
            guard let node = fields.values["prune"],
                let prune = reader.fields(node, at: fields.keyPath("prune"), allowed: ConfigKeys.prune),
                let keep = prune.required("keep").flatMap({ reader.duration($0, at: prune.keyPath("keep")) })
            else { return nil }
            return .prune(keep: keep)
        default:
            // `backup: {}` (or `backup: true`): the backup section says what and where.
            return .backup
        }
    }

    private func maintenance(_ node: Node, at path: String) -> SQLiteMaintenanceSpec? {
        guard let fields = reader.fields(node, at: path, allowed: ConfigKeys.maintenance) else { return nil }
        guard let databases = fields.required("databases").flatMap({ reader.paths($0, at: fields.keyPath("databases"), allowSingle: true) }) else {
            return nil
        }
        var spec = SQLiteMaintenanceSpec(databases: databases)
        spec.optimize = fields.optional("optimize", reader.bool) ?? true
        spec.checkpoint = fields.optional("checkpoint", reader.bool) ?? true
        spec.integrityCheck = fields.optional("integrity_check", reader.bool) ?? false
        spec.vacuum = fields.optional("vacuum") { reader.choice($0, at: $1, as: SQLiteMaintenanceSpec.Vacuum.self) } ?? .none
        spec.vacuumWindow = fields.optional("vacuum_window") { node, path in
            guard let text = reader.nonEmptyString(node, at: path) else { return nil }
            guard let window = TimeWindow.parse(text) else {
                reader.report(path, "\(NodeReader.quote(text)) is not a window; write HH:MM-HH:MM, e.g. 01:00-05:00", at: node)
                return nil
            }
            return window
        }
        if spec.vacuumWindow != nil, spec.vacuum == .none {
            reader.report(fields.keyPath("vacuum_window"), "has no effect without vacuum: incremental or full", at: fields["vacuum_window"])
        }
        return spec
    }
}

extension JobSpec: Named {}
