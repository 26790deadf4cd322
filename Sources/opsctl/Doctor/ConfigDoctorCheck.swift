/// The configuration file loads without problems: the same loader and warnings as
/// `opsctl config check`.
struct ConfigDoctorCheck: DoctorCheck {
    func run(in context: DoctorContext) async -> [DoctorFinding] {
        let path = context.load.path
        guard context.configFileExists else {
            return [.fail("config", "\(path) does not exist", fix: "pass --config PATH, or install the starter config (make install)")]
        }
        let problems = context.load.diagnostics
        guard problems.isEmpty else {
            return [.fail(
                "config", "\(path) has \(problems.count) problem(s), the first: \(problems[0])",
                fix: "run `opsctl config check \(path)` and correct every problem it lists")]
        }
        let warnings = ConfigCommand.Check.warnings(context.configuration)
        return [.ok("config", "\(path) is valid")] + warnings.map {
            .warn("config", $0, fix: "see `opsctl config check \(path)`, which prints the same warning")
        }
    }
}
