import OpsConfig
import Supervisor
import Testing

@Suite("start order from after:")
struct StartOrderTests {
    private func spec(_ name: String, after: [String] = []) -> WorkerSpec {
        var spec = WorkerSpec(name: name, command: ["/bin/true"])
        spec.after = after
        return spec
    }

    @Test("each worker comes after those it names, otherwise in configuration order")
    func order() {
        #expect(StartOrder.names([spec("web", after: ["db", "cache"]), spec("db"), spec("worker", after: ["web"]), spec("cache")])
            == ["db", "cache", "web", "worker"])
        #expect(StartOrder.names([spec("a"), spec("b"), spec("c")]) == ["a", "b", "c"])
        // A cycle (the parser refuses it) does not lose a worker.
        #expect(Set(StartOrder.names([spec("a", after: ["b"]), spec("b", after: ["a"])])) == ["a", "b"])
    }
}
