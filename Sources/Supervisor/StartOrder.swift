public import OpsConfig

/// The order workers start in: the configuration's, except that a worker comes after the workers
/// its `after:` names. Shutdown goes in reverse, so a worker stops before what it depends on.
public enum StartOrder {
    /// `specs`' names, each after its `after:` workers and otherwise in configuration order (a
    /// stable topological sort). Names that are not workers are ignored; a cycle, which the
    /// parser refuses, would leave its workers in configuration order.
    public static func names(_ specs: [WorkerSpec]) -> [String] {
        let known = Set(specs.map(\.name))
        var placed: [String] = []
        var isPlaced: Set<String> = []
        var remaining = specs
        while !remaining.isEmpty {
            // The first worker (in configuration order) whose dependencies are all placed.
            let index = remaining.firstIndex { spec in
                spec.after.allSatisfy { isPlaced.contains($0) || !known.contains($0) || $0 == spec.name }
            } ?? remaining.startIndex
            let spec = remaining.remove(at: index)
            placed.append(spec.name)
            isPlaced.insert(spec.name)
        }
        return placed
    }
}
