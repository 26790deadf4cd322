import Foundation
import Logging

/// One `backup.before` command: run before the snapshots (an export of state that is not
/// SQLite into a directory under `backup.files`), with the backup's own environment, as a
/// command job without `environment:` is, and no shell unless the command names one.
///
/// Its output goes to a file in the work directory rather than a pipe, so a chatty command can
/// never block on a full pipe; the tail is kept for the log and the failure's reason.
struct BeforeCommand {
    let command: [String]
    let timeout: Duration
    let workDirectory: String

    /// The bytes of output kept for a failure's reason and the log.
    static let tailBytes = 400

    /// The command line as the user wrote it, for messages.
    var display: String { command.map { $0.contains(" ") ? "'\($0)'" : $0 }.joined(separator: " ") }

    /// Runs the command to its end; a non-zero exit, a signal, a timeout or a failed start is
    /// an error of one sentence with the output's tail.
    func run(logger: Logger) throws(BackupError) {
        guard let program = command.first else { throw BackupError("an empty command; give it as a list, e.g. [/usr/bin/duckdb, ...]") }
        let outputPath = "\(workDirectory)/before.output"
        guard FileManager.default.createFile(atPath: outputPath, contents: nil, attributes: [.posixPermissions: 0o600]),
              let output = FileHandle(forWritingAtPath: outputPath) else {
            throw BackupError("cannot create \(outputPath) for the command's output")
        }
        defer { try? output.close(); unlink(outputPath) }
        let process = Process()
        // env looks the program up in PATH when it has no slash, as a job's command is.
        process.executableURL = URL(fileURLWithPath: program.contains("/") ? program : "/usr/bin/env")
        process.arguments = program.contains("/") ? Array(command.dropFirst()) : command
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = output
        process.standardError = output
        let ended = DispatchSemaphore(value: 0)
        process.terminationHandler = { _ in ended.signal() }
        // The child inherits this thread's signal mask, and a thread started from Swift's
        // concurrency pool has SIGTERM, SIGINT and more blocked: the command could not be
        // stopped at its timeout (nor by a shell script's own kill). It starts with none blocked.
        var none = sigset_t()
        var saved = sigset_t()
        sigemptyset(&none)
        pthread_sigmask(SIG_SETMASK, &none, &saved)
        let started = Result { try process.run() }
        pthread_sigmask(SIG_SETMASK, &saved, nil)
        if case .failure(let error) = started {
            throw BackupError("cannot start it: \(error.localizedDescription); check the path and that it is executable")
        }
        let seconds = Double(timeout.components.seconds) + Double(timeout.components.attoseconds) / 1e18
        if ended.wait(timeout: .now() + seconds) == .timedOut {
            kill(process.processIdentifier, SIGTERM)
            if ended.wait(timeout: .now() + 5) == .timedOut {
                kill(process.processIdentifier, SIGKILL)
                ended.wait()
            }
            throw BackupError("it ran longer than backup.before_timeout (\(seconds.formatted())s) and was stopped\(tail(outputPath)); raise before_timeout or make it faster")
        }
        guard process.terminationReason == .exit, process.terminationStatus == 0 else {
            let how = process.terminationReason == .exit ? "exited with status \(process.terminationStatus)" : "was killed by signal \(process.terminationStatus)"
            let tail = tail(outputPath)
            logger.error("backup: a before command failed", metadata: ["command": "\(display)", "status": "\(how)", "output": "\(tail)"])
            throw BackupError("it \(how)\(tail)")
        }
    }

    /// `; its output ended: "…"` with the last bytes, lines joined by " | ", or "" when silent.
    private func tail(_ path: String) -> String {
        guard let bytes = try? FileSystem.readAll(path) else { return "" }
        let text = String(decoding: bytes.suffix(Self.tailBytes), as: UTF8.self)
        let lines = text.split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        return lines.isEmpty ? "" : "; its output ended: \"\(lines.joined(separator: " | "))\""
    }
}
