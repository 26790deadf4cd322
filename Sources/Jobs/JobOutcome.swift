import Events
public import ProcessControl

/// How a run ended, after its retries, next to how the run before it ended: what the events of a
/// run are made of (`JobWork.events(for:)`).
public struct JobOutcome: Sendable {
    /// The job's name.
    public var job: String
    /// How the run ended.
    public var result: RunResult
    /// Attempts made, retries included.
    public var attempts: Int
    /// The run's summary when it succeeded; the last attempt's failure when it failed.
    public var message: String
    /// How the last attempt's process ended, when a process ran and its end was the failure.
    public var exit: ExitStatus?
    /// The newest earlier run that succeeded or failed (interrupted runs say nothing of the job's
    /// health); nil for a job's first run. Read from the run store, so it survives opsd restarts.
    public var previous: RunRecord?

    /// Creates an outcome.
    public init(job: String, result: RunResult, attempts: Int, message: String, exit: ExitStatus? = nil, previous: RunRecord? = nil) {
        self.job = job
        self.result = result
        self.attempts = attempts
        self.message = message
        self.exit = exit
        self.previous = previous
    }

    /// Whether the run before this one failed.
    public var followsFailure: Bool { previous?.result == .failed }

    /// The end of the failure's text in one line: its last lines, at most 300 characters, enough
    /// to say why without carrying a whole log into an alert.
    public var reason: String {
        let lines = message.split(whereSeparator: \.isNewline).map { $0.drop(while: \.isWhitespace) }.filter { !$0.allSatisfy(\.isWhitespace) }
        let tail = lines.suffix(3).joined(separator: "; ")
        return tail.count <= 300 ? tail : "…" + tail.suffix(299)
    }

    /// `attempts`, and `exit_code` or `signal` when a process's end was the failure.
    public var fields: [String: String] {
        var fields = ["attempts": "\(attempts)"]
        switch exit {
        case .exited(let code): fields["exit_code"] = "\(code)"
        case .signaled(let signal): fields["signal"] = "\(signal)"
        case nil: break
        }
        return fields
    }

    /// A job's events: `job_failed` after the retries, `job_recovered` for the first success
    /// after a failed run.
    func jobEvents() -> [Event] {
        let subject = Subject(.job, job)
        switch result {
        case .failed:
            let tries = attempts == 1 ? "1 attempt" : "\(attempts) attempts"
            return [Event(.jobFailed, subject: subject, message: "job \(job) failed after \(tries): \(reason)", fields: fields)]
        case .ok where followsFailure:
            return [Event(.jobRecovered, subject: subject, message: "job \(job) succeeded again after failing", fields: ["attempts": "\(attempts)"])]
        default:
            return []
        }
    }
}
