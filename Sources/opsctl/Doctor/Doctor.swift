import ArgumentParser
import OpsAPI

/// `opsctl doctor`: checks the installation as a whole and says how to fix each finding.
struct Doctor: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "doctor",
        abstract: "Check the installation as a whole, and say how to fix each problem found.",
        discussion: """
            Checks, in order: the configuration (as `opsctl config check`); permissions of the \
            control socket, the state directory and database, the backup repository and the \
            remote's key files; an RSA key that libssh2 before 1.11 cannot sign as current OpenSSH \
            servers expect; with --remote, the remote (reachable, host key known, credentials \
            accepted); opsd itself (answering on its socket, its workers, backup \
            freshness); under systemd, the unit (systemd-analyze verify and security exposure, \
            Delegate=yes), clock synchronisation and journald's rate limit. Each finding prints one \
            line, OK, WARN, FAIL or SKIP; a warning or failure is followed by the sentence that fixes \
            it, a skipped check says why. Nothing is changed.

            Exit status: 0 when every check that applies is OK; 1 when some check warns and none \
            fails; 2 when some check fails.
            """
    )

    @OptionGroup var connection: ConnectionOptions

    @Option(help: ArgumentHelp("The systemd unit opsd runs as.", valueName: "name"))
    var unit = "opsd.service"

    @Flag(help: "Also fetch from backup.remote through opsctl-backup: reachable, host key known, credentials accepted (the fetch updates the backup repository's view of the remote).")
    var remote = false

    @Flag(help: "Print the findings as JSON: {checks: [{name, state, message, fix}], summary: {ok, warn, fail, skipped}, state} (docs/cli-json.md).")
    var json = false

    /// Every check, in the order they print: what the rest depends on first.
    static let checks: [any DoctorCheck] = [
        ConfigDoctorCheck(), SocketDoctorCheck(), StateDoctorCheck(), BackupFilesDoctorCheck(), SSHKeyDoctorCheck(),
        RemoteDoctorCheck(),
        DaemonDoctorCheck(), WorkersDoctorCheck(), BackupFreshnessDoctorCheck(),
        UnitDoctorCheck(), ClockDoctorCheck(), JournaldDoctorCheck(),
    ]

    func run() async throws {
        try await reportingFailures {
            var context = await DoctorContext.gather(configPath: connection.configPath, socket: connection.socket, unit: unit)
            context.contactRemote = remote
            var findings: [DoctorFinding] = []
            for check in Self.checks { findings += await check.run(in: context) }
            let report = DoctorReport(findings: findings)
            print(json ? try jsonText(report) : report.text, terminator: json ? "\n" : "")
            if report.exitCode != 0 { throw ExitCode(report.exitCode) }
        }
    }
}

/// The findings of one `opsctl doctor` run, as text or JSON.
struct DoctorReport: Encodable {
    struct Summary: Encodable {
        var ok = 0, warn = 0, fail = 0, skipped = 0
    }

    let checks: [DoctorFinding]
    let summary: Summary
    /// The worst state: `ok` (skipped checks count as OK), `warn` or `fail`.
    let state: DoctorFinding.State

    init(findings: [DoctorFinding]) {
        checks = findings
        var summary = Summary()
        for finding in findings {
            switch finding.state {
            case .ok: summary.ok += 1
            case .warn: summary.warn += 1
            case .fail: summary.fail += 1
            case .skipped: summary.skipped += 1
            }
        }
        self.summary = summary
        let worst = findings.map(\.state).max() ?? .ok
        state = worst == .skipped ? .ok : worst
    }

    /// 0 all OK, 1 some warning, 2 some failure.
    var exitCode: Int32 {
        switch state {
        case .ok, .skipped: 0
        case .warn: 1
        case .fail: 2
        }
    }

    var text: String {
        let width = (checks.map(\.name.count).max() ?? 0) + 2
        var lines: [String] = []
        for finding in checks {
            let label = Self.padded(finding.state.label, to: 5)
            let name = Self.padded(finding.name, to: width)
            lines.append("\(label) \(name)\(finding.message)")
            if let fix = finding.fix { lines.append(String(repeating: " ", count: 6 + width) + "fix: \(fix)") }
        }
        lines.append("")
        lines.append("\(summary.ok) OK, \(summary.warn) warning(s), \(summary.fail) failure(s), \(summary.skipped) skipped")
        return lines.joined(separator: "\n") + "\n"
    }

    private static func padded(_ text: String, to width: Int) -> String {
        text + String(repeating: " ", count: max(0, width - text.count))
    }
}
