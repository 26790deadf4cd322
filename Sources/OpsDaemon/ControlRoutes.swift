public import ControlPlane

/// The control API: what each path of the socket does.
///
/// | method | path | answer |
/// | --- | --- | --- |
/// | GET | /v1/status | `StatusReport` |
/// | GET | /v1/ping | `{"ok": true}` (used by the watchdog) |
/// | POST | /v1/reload | `ReloadReport`; 200 when applied, 422 when the file was rejected |
/// | POST | /v1/debug/stall?seconds=N | only with `OPSD_TEST_HOOKS=1`: blocks the daemon state |
public struct ControlRoutes: ControlHandler {
    let state: DaemonState
    let reloader: Reloader
    let testHooks: Bool

    /// Creates the routes; `testHooks` enables the endpoints that exist only for tests.
    public init(state: DaemonState, reloader: Reloader, testHooks: Bool) {
        self.state = state
        self.reloader = reloader
        self.testHooks = testHooks
    }

    /// Answers one request.
    public func handle(_ request: ControlRequest) async -> ControlResponse {
        switch (request.method, request.path) {
        case ("GET", "/v1/status"):
            return .json(await state.status())
        case ("GET", "/v1/ping"):
            return .json(["ok": true])
        case ("POST", "/v1/reload"):
            let report = await reloader.reload(trigger: "opsctl reload")
            return .json(report, status: report.applied ? 200 : 422)
        case ("POST", "/v1/debug/stall") where testHooks:
            let seconds = request.query["seconds"].flatMap(Int.init) ?? 5
            await state.stallForTesting(seconds: min(seconds, 600))
            return .json(["stalled_seconds": seconds])
        case (_, "/v1/status"), (_, "/v1/ping"), (_, "/v1/reload"):
            return .error("\(request.method) is not allowed on \(request.path)", status: 405)
        default:
            return .error("no such endpoint: \(request.method) \(request.path)", status: 404)
        }
    }
}
