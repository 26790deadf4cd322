// The `after:` lists of the workers, taken together: every name is a worker, and no worker waits
// for itself, directly or round a cycle (which would leave every worker on it waiting forever).
extension ConfigParser {
    func checkStartOrder(_ workers: [WorkerSpec], node: Node) {
        let known = Set(workers.map(\.name))
        // The YAML item of each worker, for the key path and line of a problem. (Not through the
        // reader: a `workers:` that is no list has been reported once already.)
        var located: [String: (path: String, node: Node)] = [:]
        if case .sequence(let items) = node {
            for (index, item) in items.items.enumerated() {
                if let name = Self.value(of: "name", in: item)?.scalar?.string, located[name] == nil { located[name] = ("workers[\(index)]", item) }
            }
        }
        func report(_ worker: String, _ message: String) {
            let item = located[worker]
            let after = item.flatMap { Self.value(of: "after", in: $0.node) } ?? item?.node
            reader.report("\(item?.path ?? "workers").after", message, at: after)
        }
        for worker in workers {
            for name in worker.after where !known.contains(name) {
                let hint = NodeReader.closest(to: name, in: known.sorted()).map { "did you mean \"\($0)\"?" } ?? "name one of them"
                report(worker.name, "\(NodeReader.quote(name)) is not a worker under workers: (declared: \(workers.map(\.name).joined(separator: ", "))); \(hint)")
            }
            if worker.after.contains(worker.name) { report(worker.name, "a worker cannot start after itself; remove \(NodeReader.quote(worker.name))") }
        }
        if let cycle = Self.cycle(in: workers) {
            report(cycle[0], "\(cycle.joined(separator: " → ")) is a cycle: none of them could ever start; remove one of these after: entries")
        }
    }

    /// The first cycle of `after:` edges (other than a worker naming itself), from the worker it
    /// starts at back to it; nil when there is none.
    static func cycle(in workers: [WorkerSpec]) -> [String]? {
        let edges = Dictionary(workers.map { ($0.name, $0.after) }, uniquingKeysWith: { first, _ in first })
        var done: Set<String> = []
        for start in workers.map(\.name) where !done.contains(start) {
            // Depth first, with the path so far: an edge back into the path closes a cycle.
            var path: [String] = []
            var onPath: Set<String> = []
            func visit(_ name: String) -> [String]? {
                if onPath.contains(name), let index = path.firstIndex(of: name) { return Array(path[index...]) + [name] }
                guard !done.contains(name), let next = edges[name] else { return nil }
                path.append(name)
                onPath.insert(name)
                for dependency in next where dependency != name {
                    if let cycle = visit(dependency) { return cycle }
                }
                path.removeLast()
                onPath.remove(name)
                done.insert(name)
                return nil
            }
            if let cycle = visit(start) { return cycle }
        }
        return nil
    }
}
