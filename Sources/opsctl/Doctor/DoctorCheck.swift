import OpsAPI

/// One concern `opsctl doctor` examines (the config, the socket's permissions, the unit…).
///
/// A check looks at the installation through a ``DoctorContext`` gathered once, and says what
/// it found as one or more ``DoctorFinding``s: OK, a warning or a failure with the sentence that
/// fixes it, or why it was skipped. Checks never change anything.
protocol DoctorCheck: Sendable {
    func run(in context: DoctorContext) async -> [DoctorFinding]
}

/// What a check found.
struct DoctorFinding: Encodable, Sendable, Equatable {
    /// How bad it is; the worst state decides the exit status.
    enum State: String, Encodable, Sendable, Comparable {
        case ok, skipped, warn, fail

        /// The word on the check's line.
        var label: String {
            switch self {
            case .ok: "OK"
            case .skipped: "SKIP"
            case .warn: "WARN"
            case .fail: "FAIL"
            }
        }

        private var rank: Int {
            switch self {
            case .ok: 0
            case .skipped: 1
            case .warn: 2
            case .fail: 3
            }
        }

        static func < (lhs: State, rhs: State) -> Bool { lhs.rank < rhs.rank }
    }

    /// The check's short name (`config`, `socket`, `unit`…).
    var name: String
    var state: State
    /// One sentence: what is right, what is wrong, or (skipped) why it was not looked at.
    var message: String
    /// One sentence saying how to fix a warning or failure; absent otherwise.
    var fix: String?

    static func ok(_ name: String, _ message: String) -> DoctorFinding {
        DoctorFinding(name: name, state: .ok, message: message)
    }

    static func skipped(_ name: String, _ reason: String) -> DoctorFinding {
        DoctorFinding(name: name, state: .skipped, message: reason)
    }

    static func warn(_ name: String, _ message: String, fix: String) -> DoctorFinding {
        DoctorFinding(name: name, state: .warn, message: message, fix: fix)
    }

    static func fail(_ name: String, _ message: String, fix: String) -> DoctorFinding {
        DoctorFinding(name: name, state: .fail, message: message, fix: fix)
    }
}
