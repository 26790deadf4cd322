extension Configuration {
    /// The variables of opsd's own environment that the configuration reads secrets from (an
    /// HTTP check's `headers: {Authorization: {env: API_TOKEN}}`). opsd keeps them from the
    /// processes it starts: a worker, job or plugin is given what its own `environment:` says,
    /// never a credential meant for opsd.
    public var secretEnvironmentVariables: Set<String> {
        var names: Set<String> = []
        for check in checks {
            guard case .http(let http) = check.kind else { continue }
            for header in http.headers {
                if case .environment(let name) = header.value { names.insert(name) }
            }
        }
        return names
    }
}
