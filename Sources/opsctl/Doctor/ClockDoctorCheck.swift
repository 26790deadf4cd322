/// The clock is synchronised: schedules, backup ages and TLS expiry all read it.
struct ClockDoctorCheck: DoctorCheck {
    func run(in context: DoctorContext) async -> [DoctorFinding] {
        guard let result = await DoctorCommand.run(["timedatectl", "show", "-p", "NTPSynchronized", "--value"]) else {
            return [.skipped("clock", "timedatectl is not installed, so clock synchronisation is unknown")]
        }
        guard result.code == 0 else {
            return [.skipped("clock", "timedatectl cannot tell whether the clock is synchronised: \(DoctorCommand.firstLine(result.output))")]
        }
        switch DoctorCommand.firstLine(result.output) {
        case "yes":
            return [.ok("clock", "the system clock is synchronised")]
        default:
            return [.warn(
                "clock", "the system clock is not synchronised, so schedules, backup ages and certificate expiry may be judged wrong",
                fix: "turn time synchronisation on: timedatectl set-ntp true (systemd-timesyncd) or install chrony")]
        }
    }
}
