import ControlPlane
import Glibc

/// `opsctl status`, the command scripts and people run most, without ArgumentParser or a task.
///
/// Every start of opsctl pays for what it sets up before the request: ArgumentParser builds the
/// whole command tree by reflection (about a fifth of `status`'s CPU), and an async `main` parks
/// the main thread through `pthread_exit`, which unwinds it. For the plain forms of `status`
/// (`opsctl [--config F|-c F|--socket S] status [--json] [--config F|-c F|--socket S]`) neither
/// is needed, so they run here, synchronously, through the same `Status.show`. Anything else —
/// `--help`, a repeated or unknown option, a value that looks like an option — goes to
/// ArgumentParser as before, so its messages and help stay the one source of truth.
enum StatusFastPath {
    /// What the plain form asked for.
    struct Request: Equatable {
        var config: String?
        var socket: String?
        var json = false
    }

    /// The request, when `arguments` (without the program name) are a plain `status` command.
    static func parse(_ arguments: ArraySlice<String>) -> Request? {
        var request = Request()
        var sawStatus = false
        var seen: Set<String> = []
        var index = arguments.startIndex
        func value(after name: String) -> String? {
            let next = arguments.index(after: index)
            guard next < arguments.endIndex, !arguments[next].hasPrefix("-") else { return nil }
            index = next
            return arguments[next]
        }
        while index < arguments.endIndex {
            let argument = arguments[index]
            var name = argument
            var inline: String?
            if argument.hasPrefix("--"), let equals = argument.firstIndex(of: "=") {
                name = String(argument[..<equals])
                inline = String(argument[argument.index(after: equals)...])
            }
            switch name {
            case "status" where inline == nil && !sawStatus:
                sawStatus = true
            case "--json" where inline == nil && sawStatus && !request.json:
                request.json = true
            case "--config", "-c", "--socket":
                // A repeated option is ArgumentParser's to resolve (the last wins, per group).
                let key = name == "--socket" ? "socket" : "config"
                guard seen.insert(key).inserted else { return nil }
                guard let text = inline ?? value(after: name), !text.isEmpty else { return nil }
                if key == "socket" { request.socket = text } else { request.config = text }
            default:
                return nil
            }
            index = arguments.index(after: index)
        }
        return sawStatus ? request : nil
    }

    /// Runs the request and returns the exit status, with the messages `reportingFailures` prints.
    static func run(_ request: Request) -> Int32 {
        var connection = ConnectionOptions()
        connection.config = request.config
        connection.socket = request.socket
        do {
            try Status.show(connection: connection, json: request.json)
            return 0
        } catch let failure as Failure {
            printError("opsctl: \(failure.description)")
            return failure.exitCode
        } catch let error as ControlClientError {
            printError("opsctl: \(error.description)")
            return error.isNotRunning ? 3 : 1
        } catch {
            printError("opsctl: \(error)")
            return 1
        }
    }
}
