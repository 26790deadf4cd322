/// opsd answers on its control socket, as `opsctl status` asks it.
struct DaemonDoctorCheck: DoctorCheck {
    func run(in context: DoctorContext) async -> [DoctorFinding] {
        switch context.status {
        case .success(let report):
            return [.ok("daemon", "opsd \(report.version) answers on \(context.socket) (pid \(report.pid), up \(StatusText.duration(report.uptimeSeconds)))")]
        case .failure(let unreachable) where unreachable.notRunning:
            let start = context.systemdBooted ? "systemctl start \(context.unit)" : "opsd --config \(context.load.path)"
            // The client's sentence ends in its own generic advice; the fix below names this host's way.
            let what = unreachable.description.split(separator: "; ").first.map(String.init) ?? unreachable.description
            return [.fail("daemon", what, fix: "start it (\(start)) and see its log if it stops again")]
        case .failure(let unreachable):
            return [.fail("daemon", unreachable.description, fix: "compare --socket and daemon.socket with the socket opsd binds, and check that opsctl and opsd are the same version")]
        }
    }
}

/// Every worker that should run does, with the same rule as `opsctl status`'s exit status.
struct WorkersDoctorCheck: DoctorCheck {
    func run(in context: DoctorContext) async -> [DoctorFinding] {
        guard case .success(let report) = context.status else {
            return [.skipped("workers", "opsd does not answer, so its workers' states are unknown")]
        }
        let down = Status.notRunning(report.workers)
        guard !down.isEmpty else {
            return [.ok("workers", report.workers.isEmpty ? "no worker configured" : "all \(report.workers.count) worker(s) run as they should")]
        }
        return down.map { worker in
            let why = worker.message.map { ": \($0)" } ?? ""
            let fix = worker.state == .fatal
                ? "correct what makes it fail (`opsctl status`, its log), then run `opsctl workers start \(worker.name)`"
                : "see why in `opsctl status` and its log, and correct its command or environment"
            return .fail("workers", "worker \(worker.name) is \(worker.state.rawValue)\(why)", fix: fix)
        }
    }
}
