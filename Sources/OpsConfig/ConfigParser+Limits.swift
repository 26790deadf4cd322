import Glibc

// `limits:` of a worker (issue 16 items 1 and 2).
extension ConfigParser {
    func limits(_ node: Node, at path: String) -> WorkerLimits? {
        guard let fields = reader.fields(node, at: path, allowed: WorkerLimits.keys) else { return nil }
        var limits = WorkerLimits()
        limits.nofile = fields.optional("nofile") { resourceLimit($0, at: $1, sized: false) }
        limits.core = fields.optional("core") { resourceLimit($0, at: $1, sized: true) }
        limits.nproc = fields.optional("nproc") { resourceLimit($0, at: $1, sized: false) }
        limits.memlock = fields.optional("memlock") { resourceLimit($0, at: $1, sized: true) }
        limits.memory = fields.optional("memory", size)
        limits.memoryHigh = fields.optional("memory_high", size)
        limits.cpuPercent = fields.optional("cpu", cpuPercent)
        limits.tasks = fields.optional("tasks") { reader.integer($0, at: $1, in: 1...4_194_304) }
        if let high = limits.memoryHigh, let max = limits.memory, high >= max {
            reader.report(fields.keyPath("memory_high"), "\(ByteSize.format(high)) is not below memory (\(ByteSize.format(max))), so it would never throttle before the OOM kill; lower it or leave it out", at: fields["memory_high"])
        }
        return limits
    }

    /// `N`, `SOFT:HARD` or `infinity`; with `sized`, values take K/M/G/T suffixes (`core: 0`, `memlock: 64M`).
    private func resourceLimit(_ node: Node, at path: String, sized: Bool) -> ResourceLimit? {
        guard let text = reader.string(node, at: path) else { return nil }
        let parts = text.split(separator: ":", omittingEmptySubsequences: false).map { String($0) }
        let values = parts.map { part -> UInt64?? in
            let word = String(part.trimmingWhitespaceAndNewlines())
            if word == "infinity" || word == "unlimited" { return .some(nil) }
            return (sized ? ByteSize.parse(word) : UInt64(word)).map { .some($0) }
        }
        let example = sized ? "e.g. 0, 64M, 16M:64M or infinity" : "e.g. 65536, 1024:65536 or infinity"
        guard (1...2).contains(values.count), let soft = values[0], let hard = values[values.count - 1] else {
            reader.report(path, "\(NodeReader.quote(text)) is not a limit; write one value for soft and hard, or SOFT:HARD, \(example)", at: node)
            return nil
        }
        let softAboveHard = switch (soft, hard) {
        case (nil, .some): true
        case (.some(let softValue), .some(let hardValue)): softValue > hardValue
        default: false
        }
        guard !softAboveHard else {
            reader.report(path, "\(NodeReader.quote(text)) has a soft limit above its hard limit; the soft one must be at most the hard one", at: node)
            return nil
        }
        return ResourceLimit(soft: soft, hard: hard)
    }

    private func size(_ node: Node, at path: String) -> UInt64? {
        guard let text = reader.string(node, at: path) else { return nil }
        guard let bytes = ByteSize.parse(text), bytes > 0 else {
            reader.report(path, "\(NodeReader.quote(text)) is not a size; write e.g. 512M, 2G or 1536MiB (K, M, G, T are powers of 1024)", at: node)
            return nil
        }
        return bytes
    }

    /// `50%` of one CPU; above 100% for more than one (`200%`: two CPUs), as systemd's `CPUQuota=`.
    private func cpuPercent(_ node: Node, at path: String) -> Int? {
        guard let text = reader.string(node, at: path) else { return nil }
        let trimmed = text.trimmingWhitespaceAndNewlines()
        guard trimmed.hasSuffix("%"), let value = Int(trimmed.dropLast().trimmingWhitespaceAndNewlines()), (1...100_000).contains(value) else {
            reader.report(path, "\(NodeReader.quote(text)) is not a CPU share; write a percentage of one CPU, e.g. 50% (200% is two CPUs)", at: node)
            return nil
        }
        return value
    }
}
