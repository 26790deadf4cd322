import Glibc

/// The configuration file loads without problems: the same loader and warnings as
/// `opsctl config check`.
struct ConfigDoctorCheck: DoctorCheck {
    func run(in context: DoctorContext) async -> [DoctorFinding] {
        let path = context.load.path
        var info = stat()
        guard stat(path, &info) == 0 else {
            guard errno == ENOENT || errno == ENOTDIR else {
                return [.fail(
                    "config", "\(path) cannot be examined by uid \(geteuid()): \(String(cString: strerror(errno)))",
                    fix: "run opsctl doctor as root or as a member of opsd's group")]
            }
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
