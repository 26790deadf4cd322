import ArgumentParser
import ControlPlane
import EventLog
import FoundationEssentials
import Glibc
import OpsAPI
import OpsConfig
import Scheduling
import StateStore
import WireMapping

struct EventsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "events",
        abstract: "Show opsd's events: what failed, what came back, oldest first.",
        discussion: """
            An event is something that happened to a check, worker, job, backup or to opsd itself: \
            a worker that exited or went fatal, a job that failed after its retries, a backup that \
            stayed local, a check that turned critical, and each recovery. opsd keeps the newest \
            10,000 events of the last 30 days in its state database; docs/alerts.md lists the kinds.

            Columns: TIME (local), SEVERITY (ok, info, warning, critical), KIND, SUBJECT, MESSAGE. \
            --json prints one JSON object per line (id, time, kind, severity, subject_kind, \
            subject, message, fields), also while following, so `jq` can read it line by line.

            When opsd is not running, the history is read from its state database (opsctl needs \
            read access to it: run as root or as a member of opsd's group); -f needs opsd.

            Examples:
              opsctl events                      the newest 50 events
              opsctl events --since 2h           everything of the last two hours
              opsctl events --since '2026-12-07 09:00' -n 500
              opsctl events -f                   the newest 50, then each new one as it comes
              opsctl events --json -f | jq -c 'select(.severity == "critical")'

            Exit status: 0 on success; 1 when the history cannot be read or an option is wrong; \
            3 with -f when opsd is not running.
            """
    )

    @Option(help: ArgumentHelp(
        "Only events at or after this time: a duration back from now (30m, 2h, 1d) or a time (2026-12-07T09:00:00Z, or a local '2026-12-07 09:00').",
        valueName: "time"))
    var since: String?

    @Option(name: [.customShort("n"), .customLong("lines")], help: ArgumentHelp("Show the newest N events (default: 50, or all up to 10,000 with --since).", valueName: "N"))
    var lines: Int?

    @Flag(name: .shortAndLong, help: "Follow: after the history, print each new event as opsd records it, until interrupted or opsd stops.")
    var follow = false

    @Flag(help: "Print one JSON object per event and line.")
    var json = false

    @OptionGroup var connection: ConnectionOptions

    /// How long one long poll lasts; opsd answers earlier as soon as an event comes.
    static let pollSeconds = 30

    func validate() throws {
        if let lines, !(1...EventQueryLimits.maximumLimit).contains(lines) {
            throw ValidationError("-n must be from 1 to \(EventQueryLimits.maximumLimit)")
        }
    }

    func run() async throws {
        try await reportingFailures { try await show() }
    }

    /// What `run()` does, with `reportingFailures` turning a `Failure` into its message and exit status.
    private func show() async throws {
        let start: Date?
        if let since {
            guard let parsed = EventSince.parse(since, now: Date(), zone: .local) else {
                throw Failure(EventSince.problem(since, option: "--since "))
            }
            start = parsed
        } else {
            start = nil
        }
        let limit = lines ?? (start == nil ? 50 : EventQueryLimits.maximumLimit)
        let printer = EventPrinter(json: json)
        var query = ["limit": "\(limit)"]
        if let start { query["since"] = ISOTime.format(start, in: .utc) }
        let events: [EventRecord]
        let followFrom: Int64
        do {
            // With -f, opsd's newest id is asked first: whatever it stores after that is followed,
            // so an event stored between these requests is neither lost nor printed twice, and
            // older ones (outside --since) never appear as if they were new.
            let newest = follow ? try await newestEventID() : 0
            events = try await connection.client().send(ControlRequest(method: "GET", path: "/v1/events", query: query)).decoded([EventRecord].self)
            followFrom = max(newest, events.last?.id ?? 0)
        } catch let error as ControlClientError where error.isNotRunning {
            try readAlone(since: start, limit: limit).forEach(printer.print)
            if follow {
                throw Failure("opsd is not running, and following new events needs it; start opsd (systemctl start opsd), or leave out -f", exitCode: 3)
            }
            return
        }
        if events.isEmpty && !follow && !json { printError("opsctl: no events\(start == nil ? "" : " since \(ISOTime.format(start ?? Date(), in: .local))")") }
        events.forEach(printer.print)
        guard follow else { return }
        try await followEvents(after: followFrom, printer: printer)
    }

    /// The id of the newest event opsd has stored; 0 when there is none.
    private func newestEventID() async throws -> Int64 {
        try await connection.client().send(ControlRequest(method: "GET", path: "/v1/events", query: ["limit": "1"]))
            .decoded([EventRecord].self).last?.id ?? 0
    }

    /// The history from the state database, read-only, while opsd is down.
    private func readAlone(since: Date?, limit: Int) throws -> [EventRecord] {
        // A file with problems elsewhere still names its state directory (the socket's lookup
        // has said so on stderr): the history is most wanted while the configuration is broken.
        let loaded = ConfigLoader.read(path: connection.configPath)
        guard FileManager.default.fileExists(atPath: loaded.path) else {
            throw Failure("opsd is not running, and \(loaded.path) does not exist to find its state directory; pass --config PATH")
        }
        let directory = loaded.configuration.daemon.stateDirectory
        guard FileManager.default.fileExists(atPath: StateDatabase.path(in: directory)) else {
            printError("opsctl: opsd is not running and has recorded no events in \(directory) yet")
            return []
        }
        let stored: [StoredEvent]
        do {
            stored = try EventHistory(database: try StateDatabase(stateDirectory: directory)).recentBlocking(since: since, limit: limit)
        } catch {
            throw Failure("cannot read the event history in \(StateDatabase.path(in: directory)): \(error); run as root or a member of opsd's group")
        }
        printError("opsctl: opsd is not running; these events come from its state database")
        return stored.map(EventRecord.init)
    }

    /// Long polls opsd for the events after `after` until interrupted or opsd stops.
    private func followEvents(after: Int64, printer: EventPrinter) async throws {
        let client = try connection.client(timeout: .seconds(Int64(Self.pollSeconds + 15)))
        var cursor = after
        while let events = try await poll(client, after: cursor) {
            for event in events {
                printer.print(event)
                cursor = max(cursor, event.id)
            }
        }
    }

    /// One long poll: the events after `after`, or nil once opsd has stopped or is stopping (said
    /// on stderr). Its own function, with no `let` initialised inside a do/catch: written inline
    /// in the loop above that way, Swift 6.3.1's mandatory AllocBoxToStack pass took eleven
    /// minutes on this file, and crashed on a first split of it.
    private func poll(_ client: ControlClient, after: Int64) async throws -> [EventRecord]? {
        do {
            let response = try await client.send(ControlRequest(
                method: "GET", path: "/v1/events", query: ["after": "\(after)", "wait": "\(Self.pollSeconds)", "limit": "\(EventQueryLimits.maximumLimit)"]))
            if response.status == 503 {
                printError("opsctl: opsd is stopping; no more events to follow")
                return nil
            }
            return try response.decoded([EventRecord].self)
        } catch let error as ControlClientError where error.isNotRunning {
            printError("opsctl: opsd stopped; no more events to follow")
            return nil
        }
    }
}

/// Prints events as the table's rows (fixed widths, so followed lines stay aligned) or as JSON
/// lines, each as soon as it is known.
struct EventPrinter {
    let json: Bool

    func print(_ event: EventRecord) {
        if json {
            let encoder = WireJSON.encoder
            encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
            guard let data = try? encoder.encode(event) else { return }
            write(String(decoding: data, as: UTF8.self))
        } else {
            write(Self.row(event))
        }
    }

    /// One row: time, severity, kind, subject, message.
    static func row(_ event: EventRecord) -> String {
        let subject = event.subjectKind == "daemon" ? event.subject : "\(event.subjectKind) \(event.subject)"
        return [
            ISOTime.format(event.time, in: .local), padded(event.severity, 8), padded(event.kind, 20), padded(subject, 20), event.message,
        ].joined(separator: "  ")
    }

    private static func padded(_ text: String, _ width: Int) -> String {
        text.count >= width ? text : text + String(repeating: " ", count: width - text.count)
    }

    /// Straight to the descriptor, unbuffered: a pipe (`| jq`) sees each event as it happens.
    private func write(_ line: String) {
        let bytes = Array((line + "\n").utf8)
        bytes.withUnsafeBytes { buffer in
            var offset = 0
            while offset < buffer.count {
                let written = Glibc.write(STDOUT_FILENO, buffer.baseAddress! + offset, buffer.count - offset)
                if written <= 0 { return }
                offset += written
            }
        }
    }
}
