import Checks
public import ControlPlane
import OpsConfig

/// What the optional TCP listener (`daemon.listen`) serves, for load balancers, Kubernetes-style
/// probes and Prometheus:
///
/// | method | path | answer |
/// | --- | --- | --- |
/// | GET | /healthz | `application/health+json`; 200 for pass and warn, 503 for fail |
/// | GET | /metrics | Prometheus text format: workers, jobs, backups, checks, events, opsd itself (docs/alerts.md) |
/// | GET | /, /status | the status page: HTML, read-only, no script (`StatusPage`, docs/status-page.md) |
///
/// Nothing else is served there: the control API stays on the unix socket, behind its file mode.
public struct HealthEndpoints: ControlHandler {
    let checks: CheckService
    let metrics: MetricsCollector
    /// The control routes whose gatherers the status page reuses.
    let routes: ControlRoutes

    /// Creates the endpoints: /healthz from `checks`, /metrics from `metrics`, the status page
    /// from `routes`.
    public init(checks: CheckService, metrics: MetricsCollector, routes: ControlRoutes) {
        self.checks = checks
        self.metrics = metrics
        self.routes = routes
    }

    /// Answers one request.
    public func handle(_ request: ControlRequest) async -> ControlResponse {
        switch (request.method, request.path) {
        case ("GET", "/healthz"):
            let reports = await checks.reports()
            let document = HealthDocument(reports: reports, version: opsVersion, description: "checks run by opsd")
            return ControlResponse(
                status: document.status == "fail" ? 503 : 200, body: Array(document.json()), contentType: HealthDocument.contentType
            )
        case ("GET", "/metrics"):
            return ControlResponse(status: 200, body: Array(await metrics.render().utf8), contentType: MetricsText.contentType)
        case ("GET", "/"), ("GET", "/status"):
            let page = StatusPageHTML.render(await StatusPage.gather(from: routes))
            return ControlResponse(status: 200, body: Array(page.utf8), contentType: StatusPageHTML.contentType)
        case (_, "/healthz"), (_, "/metrics"), (_, "/"), (_, "/status"):
            return .error("\(request.method) is not allowed on \(request.path)", status: 405)
        default:
            return .error("no such endpoint: \(request.path); this listener serves /, /healthz and /metrics", status: 404)
        }
    }
}
