import Events

/// The names a route's `checks:`, `workers:` and `jobs:` may name, from the rest of the file.
struct AlertNames {
    var checks: [String]
    var workers: [String]
    var jobs: [String]
}

extension AlertSpec: Named {}

extension ConfigParser {
    /// One entry of `alerts:`. The shapes of before events stay valid: `on: [warn, crit,
    /// unknown, recover]` names the check events, and a route without `on:` still hears about
    /// every check that goes bad and recovers (now also about workers, jobs and backups).
    func alert(_ node: Node, at path: String, names: AlertNames) -> AlertSpec? {
        guard let fields = reader.fields(node, at: path, allowed: ConfigKeys.alert) else { return nil }
        var target: AlertSpec.Target?
        switch (fields["webhook"], fields["exec"]) {
        case (let webhook?, nil):
            target = webhookURL(webhook, at: fields.keyPath("webhook")).map { .webhook(url: $0) }
        case (nil, let exec?):
            target = command(exec, at: fields.keyPath("exec")).map { .exec($0) }
            if let format = fields["format"] {
                reader.report(fields.keyPath("format"), "applies to webhooks only; an exec hook gets the event as JSON on stdin and as OPS_* variables, so remove format:", at: format)
            }
        case (nil, nil):
            reader.report(path, "says nowhere to send alerts; add webhook: URL or exec: [command, args]", at: node)
        default:
            reader.report(path, "has both webhook and exec; use one alert entry for each", at: node)
        }
        var spec = AlertSpec(name: path, target: target ?? .exec([]))
        if let name = fields.optional("name", self.name) { spec.name = name }
        if let format = fields.optional("format", { reader.choice($0, at: $1, as: AlertSpec.WebhookFormat.self) }) { spec.format = format }
        if let onNode = fields["on"], let items = reader.items(onNode, at: fields.keyPath("on")) {
            spec.on = items.compactMap { eventKind($0.node, at: $0.path) }
        }
        spec.severity = fields.optional("severity") { reader.choice($0, at: $1, as: Severity.self) }
        spec.subjects = SubjectSelection(
            checks: fields.optional("checks") { patterns($0, at: $1, sort: "check", section: "checks", known: names.checks) },
            workers: fields.optional("workers") { patterns($0, at: $1, sort: "worker", section: "workers", known: names.workers) },
            jobs: fields.optional("jobs") { patterns($0, at: $1, sort: "job", section: "jobs", known: names.jobs) }
        )
        if let resolved = fields.optional("send_resolved", reader.bool) { spec.sendResolved = resolved }
        if let repeatNode = fields["repeat"], let interval = reader.duration(repeatNode, at: fields.keyPath("repeat")) {
            if interval > .zero {
                spec.repeatInterval = interval
            } else {
                reader.report(fields.keyPath("repeat"), "must be longer than zero; write e.g. 4h, or leave repeat: out to send each alert once", at: repeatNode)
            }
        }
        if let limit = fields.optional("limit", burstLimit) { spec.limit = limit }
        return target == nil ? nil : spec
    }

    private func webhookURL(_ node: Node, at path: String) -> String? {
        guard let url = reader.nonEmptyString(node, at: path) else { return nil }
        if Self.hasPassword(url) {
            reader.report(path, "contains a password; webhook URLs carry their secret in the path, not as user:password", at: node)
            return nil
        }
        guard url.hasPrefix("http://") || url.hasPrefix("https://") else {
            reader.report(path, "\(NodeReader.quote(url)) is not an http:// or https:// URL", at: node)
            return nil
        }
        return url
    }

    /// An event kind by its name, or one of the check events' old names.
    private func eventKind(_ node: Node, at path: String) -> EventKind? {
        guard let text = reader.string(node, at: path) else { return nil }
        if let kind = EventKind(named: text) { return kind }
        let known = EventKind.allCases.map(\.rawValue)
        let hint = NodeReader.closest(to: text, in: known + EventKind.checkAliases.keys.sorted()).map { "did you mean \"\($0)\"? " } ?? ""
        reader.report(path, "\(NodeReader.quote(text)) is not an event kind; \(hint)write one of: \(known.joined(separator: ", ")) (or warn, crit, unknown, recover, the older names of the check events)", at: node)
        return nil
    }

    /// Names and globs of one sort of subject. A name without wildcards must name something in
    /// the file: a typo would otherwise make a route that never fires.
    private func patterns(_ node: Node, at path: String, sort: String, section: String, known: [String]) -> [NamePattern]? {
        let entries: [(path: String, node: Node)]
        if node.scalar != nil {
            entries = [(path, node)]
        } else {
            guard let items = reader.items(node, at: path) else { return nil }
            entries = items
        }
        var result: [NamePattern] = []
        for (itemPath, itemNode) in entries {
            guard let text = reader.nonEmptyString(itemNode, at: itemPath) else { continue }
            switch NamePattern.parse(text) {
            case .failure(let problem):
                reader.report(itemPath, "\(NodeReader.quote(text)) \(problem.reason); write a name, or a pattern with * (any characters), ? (one character) or [abc] (one of them), e.g. disk-*", at: itemNode)
            case .success(let pattern):
                if pattern.isLiteral, !known.contains(text) {
                    let hint = NodeReader.closest(to: text, in: known).map { "did you mean \"\($0)\"? " } ?? ""
                    let list = known.isEmpty ? "there is none" : "name one of: \(known.joined(separator: ", "))"
                    reader.report(itemPath, "\(NodeReader.quote(text)) is not a \(sort) under \(section):; \(hint)\(list), or use a pattern such as \"\(text)*\"", at: itemNode)
                } else {
                    result.append(pattern)
                }
            }
        }
        return result.count == entries.count ? result : nil
    }
}
