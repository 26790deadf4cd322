import FileSafety
import Glibc
import StateStore

/// opsd's state directory (0750) and its database (0640): nobody else may change them, and
/// other users should not read them (check history and job output can carry secrets).
struct StateDoctorCheck: DoctorCheck {
    func run(in context: DoctorContext) async -> [DoctorFinding] {
        let directory = context.configuration.daemon.stateDirectory
        guard let facts = FileFacts.of(directory) else {
            return [.warn("state", "the state directory \(directory) does not exist", fix: "start opsd, which creates it with mode 0750")]
        }
        do throws(UntrustedPathError) {
            try TrustedDirectory.check(directory, purpose: "the state directory", trusting: context.serviceOwner)
        } catch {
            return [error.finding("state")]
        }
        var findings: [DoctorFinding] = []
        if facts.permissions & S_IRWXO != 0 {
            findings.append(.warn(
                "state", "the state directory \(directory) has mode \(facts.octal), so other users can look into opsd's state",
                fix: "run chmod 0750 \(directory)"))
        }
        let database = directory + "/" + StateDatabase.fileName
        if let db = FileFacts.of(database) {
            if db.permissions & (S_IWGRP | S_IWOTH) != 0 {
                findings.append(.fail(
                    "state", "\(database) has mode \(db.octal), so users other than opsd's can change its state",
                    fix: "run chmod 0640 \(database)"))
            } else if db.permissions & S_IRWXO != 0 {
                findings.append(.warn(
                    "state", "\(database) has mode \(db.octal), so every user can read opsd's history",
                    fix: "run chmod 0640 \(database)"))
            }
        }
        return findings.isEmpty ? [.ok("state", "\(directory) (mode \(facts.octal)) and its database are opsd's alone")] : findings
    }
}
