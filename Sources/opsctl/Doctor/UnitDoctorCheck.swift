import OpsConfig

/// opsd's unit as systemd has it: `systemd-analyze verify` clean, the sandbox's exposure as
/// `make check-unit` holds it (scripts/check-unit.sh runs the same two commands), and
/// `Delegate=yes`, without which workers' cgroup limits do not apply.
struct UnitDoctorCheck: DoctorCheck {
    /// The exposure `make check-unit` allows (scripts/check-unit.sh's default maximum).
    static let maximumExposure = 3.0

    func run(in context: DoctorContext) async -> [DoctorFinding] {
        guard let unit = context.installedUnit else {
            return [.skipped("unit", context.unitAbsence)]
        }
        return [await verify(unit), await security(unit, context.unit), delegation(unit, context.unit)]
    }

    private func verify(_ unit: DoctorContext.InstalledUnit) async -> DoctorFinding {
        guard let result = await DoctorCommand.run(["systemd-analyze", "verify", "--man=no", unit.file]) else {
            return .skipped("unit", "systemd-analyze is not installed, so \(unit.file) was not verified")
        }
        // As scripts/check-unit.sh: any output counts, even with exit status 0.
        guard result.code == 0, result.output.allSatisfy(\.isWhitespace) else {
            return .fail(
                "unit", "systemd-analyze verify \(unit.file) says: \(DoctorCommand.firstLine(result.output))",
                fix: "correct \(unit.file) (compare with deploy/systemd/opsd.service), then run systemctl daemon-reload")
        }
        return .ok("unit", "\(unit.file) passes systemd-analyze verify")
    }

    private func security(_ unit: DoctorContext.InstalledUnit, _ name: String) async -> DoctorFinding {
        guard let result = await DoctorCommand.run(["systemd-analyze", "security", "--offline=true", "--no-pager", unit.file]) else {
            return .skipped("unit-security", "systemd-analyze is not installed, so the exposure of \(unit.file) was not measured")
        }
        guard let exposure = Self.exposure(result.output) else {
            return .warn(
                "unit-security", "systemd-analyze security gave no exposure for \(unit.file): \(DoctorCommand.firstLine(result.output))",
                fix: "run systemd-analyze security --offline=true \(unit.file) and correct what it reports")
        }
        let shown = NumberText.fixed(exposure, digits: 1)
        guard exposure <= Self.maximumExposure else {
            return .warn(
                "unit-security", "\(name) has exposure \(shown), above the \(NumberText.fixed(Self.maximumExposure, digits: 1)) the shipped unit stays within",
                fix: "bring \(unit.file) back to deploy/systemd/opsd.service, relaxing only the lines marked RELAX:")
        }
        return .ok("unit-security", "\(name) has exposure \(shown) (at most \(NumberText.fixed(Self.maximumExposure, digits: 1)))")
    }

    private func delegation(_ unit: DoctorContext.InstalledUnit, _ name: String) -> DoctorFinding {
        guard unit.properties["Delegate"] == "yes" else {
            return .warn(
                "cgroup-delegation", "\(name) does not have Delegate=yes, so workers' cgroup limits are not applied and a stop may leave their children behind",
                fix: "add Delegate=yes to its [Service] section (as deploy/systemd/opsd.service has it), then run systemctl daemon-reload and restart opsd")
        }
        return .ok("cgroup-delegation", "\(name) has Delegate=yes")
    }

    /// The number in "→ Overall exposure level for opsd.service: 1.4 OK 🙂".
    static func exposure(_ output: String) -> Double? {
        let marker = "Overall exposure level for "
        guard let line = output.split(separator: "\n").last(where: { $0.contains(marker) }),
              let colon = line.split(separator: ": ", maxSplits: 1).last,
              let number = colon.split(separator: " ").first else { return nil }
        return Double(number)
    }
}
