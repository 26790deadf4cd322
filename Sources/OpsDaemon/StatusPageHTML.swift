import FoundationEssentials
import OpsAPI
import OpsConfig
import OpsLogging
import ProcessControl
import Scheduling

/// Renders a `StatusPage` as one self-contained HTML document: inline CSS, no script, no external
/// asset (not even a favicon), refreshing itself every ``refreshSeconds``, read-only (no forms).
///
/// Every piece of text that comes from outside this file (names, commands' messages, a worker's
/// STATUS= line, check output, event messages) passes through ``text(_:)``: URL passwords are
/// masked as in opsd's log lines (`Redaction`), then the HTML metacharacters escaped, so a check
/// plugin that prints `<script>` shows those characters. The page's Content-Security-Policy
/// forbids scripts and every fetch as well, in case a mistake here ever let markup through.
enum StatusPageHTML {
    /// How often the browser reloads the page.
    static let refreshSeconds = 10
    /// The media type of the page.
    static let contentType = "text/html; charset=utf-8"

    /// The document.
    static func render(_ page: StatusPage) -> String {
        var html = ""
        html.reserveCapacity(16_384)
        let summary = Summary(page)
        let host = page.host.isEmpty ? "" : " on \(text(page.host))"
        html += """
            <!DOCTYPE html>
            <html lang="en"><head><meta charset="utf-8">
            <meta http-equiv="refresh" content="\(refreshSeconds)">
            <meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:; form-action 'none'; base-uri 'none'">
            <meta name="referrer" content="no-referrer">
            <meta name="viewport" content="width=device-width, initial-scale=1">
            <link rel="icon" href="data:,">
            <title>\(text(summary.headline)) - opsd\(host)</title>
            <style>\(style)</style>
            </head><body>
            <header><h1>opsd\(host) \(badge(summary.tone, summary.headline))</h1>
            <p>\(daemonLine(page))</p>\(reloadErrors(page.report))</header>

            """
        html += workers(page)
        html += checks(page)
        html += jobs(page)
        html += backup(page)
        html += events(page)
        html += "<footer><p>Gathered \(time(page.now)); this page reloads itself every \(refreshSeconds) s. "
        html += "<code>opsctl status</code>, <code>opsctl health</code> and <code>opsctl jobs</code> show the same on the host.</p></footer>\n"
        html += "</body></html>\n"
        return html
    }

    /// The page's one line of verdict: how many things are broken and how many need a look.
    struct Summary {
        var tone: StatusTone
        var headline: String

        init(_ page: StatusPage) {
            let tones = page.report.workers.map(StatusTone.init) + page.checks.map { StatusTone($0.state) } + page.jobs.map(StatusTone.init)
                + (page.report.backup.map { [StatusTone($0)] } ?? [])
            let broken = tones.filter { $0 == .broken }.count
            let warnings = tones.filter { $0 == .warn }.count
            tone = broken > 0 ? .broken : warnings > 0 ? .warn : .ok
            var parts: [String] = []
            if broken > 0 { parts.append("\(broken) broken") }
            if warnings > 0 { parts.append("\(warnings) \(warnings == 1 ? "warning" : "warnings")") }
            headline = parts.isEmpty ? "all ok" : parts.joined(separator: ", ")
        }
    }

    // MARK: Sections

    private static func daemonLine(_ page: StatusPage) -> String {
        let report = page.report
        let reloads = report.reloads == 1 ? "1 reload" : "\(report.reloads) reloads"
        return "version \(text(report.version)) · pid \(report.pid) · up \(duration(report.uptimeSeconds)) · "
            + "config <code>\(text(report.configPath))</code> (loaded \(time(report.configLoadedAt, now: page.now)), \(reloads))"
    }

    private static func reloadErrors(_ report: StatusReport) -> String {
        guard let errors = report.lastReloadErrors else { return "" }
        return "\n<div class=\"notice broken\"><p>\(badge(.broken, "reload rejected")) The last reload was rejected; the configuration above stays in force.</p><ul>"
            + errors.map { "<li>\(text($0))</li>" }.joined() + "</ul></div>"
    }

    private static func workers(_ page: StatusPage) -> String {
        let rows = page.report.workers.map { worker in
            let tone = StatusTone(worker)
            return row(tone, name: worker.name, cells: [
                text(worker.name), badge(tone, worker.state.rawValue), worker.pid.map(String.init) ?? "–",
                worker.uptimeSeconds.map(duration) ?? "–", restarts(worker), worker.lastExit.map(exit) ?? "–",
                "<span class=\"message\">\(text(worker.message ?? worker.statusText ?? ""))</span>",
            ])
        }
        return section("workers", "Workers", count: rows.count, none: "No workers are configured.",
                       headings: ["Name", "State", "PID", "Uptime", "Restarts", "Last exit", "Reason / status"], rows: rows)
    }

    private static func checks(_ page: StatusPage) -> String {
        let rows = page.checks.map { check in
            let tone = StatusTone(check.state)
            let value = check.latest?.value.map { NumberText.fixed($0, digits: 2) + (check.latest?.unit.map { " " + text($0) } ?? "") } ?? "–"
            return row(tone, name: check.name, cells: [
                text(check.name), text(check.kind), badge(tone, check.state.rawValue), value,
                "<span class=\"message\">\(text(check.latest?.message ?? "not run yet"))</span>",
                check.latest.map { time($0.time, now: page.now) } ?? "–",
            ])
        }
        return section("checks", "Checks", count: rows.count, none: "No checks are configured.",
                       headings: ["Name", "Kind", "State", "Value", "Message", "Last run"], rows: rows)
    }

    private static func jobs(_ page: StatusPage) -> String {
        let rows = page.jobs.map { job in
            let tone = StatusTone(job)
            let result = job.running ? "running" : job.lastRun?.result.rawValue ?? "never run"
            let last = job.lastRun.map { run in
                time(run.startedAt ?? run.scheduledAt, now: page.now) + (run.durationSeconds.map { ", took \(duration($0))" } ?? "")
            } ?? "–"
            return row(tone, name: job.name, cells: [
                text(job.name), text(job.kind), text(job.trigger), badge(tone, result), last,
                "<span class=\"message\">\(text(job.lastRun?.message ?? ""))</span>", job.nextRun.map { time($0, now: page.now) } ?? "–",
            ])
        }
        return section("jobs", "Jobs", count: rows.count, none: "No jobs are configured.",
                       headings: ["Name", "Kind", "Trigger", "Last result", "Last run", "Message", "Next run"], rows: rows)
    }

    private static func backup(_ page: StatusPage) -> String {
        guard let backup = page.report.backup else {
            return "<section id=\"backup\"><h2>Backup</h2><p class=\"none\">No backup is configured.</p></section>\n"
        }
        let tone = StatusTone(backup)
        let result: String
        switch tone {
        case .broken: result = "failed"
        case .warn: result = backup.lastBackupAt == nil ? "none yet" : "not pushed"
        case .ok, .idle: result = "ok"
        }
        let lastSuccess: String = backup.lastBackupAt.map { time($0, now: page.now) } ?? "never"
        let lastPushed: String = backup.remote == nil ? "–" : backup.lastPushedAt.map { time($0, now: page.now) } ?? "never"
        let cells: [String] = [
            text(backup.repository), backup.remote.map(text) ?? "none", backup.schedule.map(text) ?? "by hand or timer", badge(tone, result),
            lastSuccess, lastPushed, backup.unpushedCommits.map(String.init) ?? "–",
            "<span class=\"message\">\(text(backup.lastError ?? ""))</span>",
        ]
        return section("backup", "Backup", count: nil, none: "",
                       headings: ["Repository", "Remote", "Schedule", "Result", "Last success", "Last pushed", "Unpushed", "Last error"],
                       rows: [row(tone, name: "backup", cells: cells)])
    }

    private static func events(_ page: StatusPage) -> String {
        guard let events = page.events else {
            return "<section id=\"events\"><h2>Recent events</h2><p class=\"none\">This opsd keeps no event history.</p></section>\n"
        }
        let rows = events.map { event in
            let tone = StatusTone(severity: event.severity)
            return row(tone, name: event.subject, cells: [
                time(event.time, now: page.now), badge(tone, event.severity), text(event.kind), text("\(event.subjectKind) \(event.subject)"),
                "<span class=\"message\">\(text(event.message))</span>",
            ])
        }
        return section("events", "Recent events", count: nil, none: "No events yet.",
                       headings: ["Time", "Severity", "Kind", "Subject", "Message"], rows: rows)
    }

    // MARK: Pieces

    private static func section(_ id: String, _ title: String, count: Int?, none: String, headings: [String], rows: [String]) -> String {
        let heading = "<h2>\(title)\(count.map { " (\($0))" } ?? "")</h2>"
        guard !rows.isEmpty else { return "<section id=\"\(id)\">\(heading)<p class=\"none\">\(none)</p></section>\n" }
        return "<section id=\"\(id)\">\(heading)\n<table><thead><tr>" + headings.map { "<th>\($0)</th>" }.joined()
            + "</tr></thead><tbody>\n" + rows.joined(separator: "\n") + "\n</tbody></table></section>\n"
    }

    private static func row(_ tone: StatusTone, name: String, cells: [String]) -> String {
        "<tr class=\"\(tone.rawValue)\" data-name=\"\(text(name))\">" + cells.map { "<td>\($0)</td>" }.joined() + "</tr>"
    }

    /// The state's word on its colour: the word carries the meaning, the colour only helps.
    private static func badge(_ tone: StatusTone, _ word: String) -> String {
        "<span class=\"state \(tone.rawValue)\">\(text(word))</span>"
    }

    private static func restarts(_ worker: WorkerStatus) -> String {
        let apart = [
            worker.operatorActions.flatMap { $0 > 0 ? "\($0) by operator" : nil },
            worker.plannedRestarts.flatMap { $0 > 0 ? "\($0) planned" : nil },
        ].compactMap { $0 }
        return String(worker.restarts) + (apart.isEmpty ? "" : " (\(apart.joined(separator: ", ")))")
    }

    private static func exit(_ exit: ProcessExit) -> String {
        text(exit.signal.map { ExitStatus.signaled($0).description } ?? ExitStatus.exited(exit.code ?? 0).description)
    }

    private static func duration(_ seconds: Double) -> String {
        DurationText.format(.milliseconds(Int64(max(seconds, 0) * 1000)))
    }

    /// A time in UTC, with how long ago (or how soon) it is.
    private static func time(_ date: Date, now: Date) -> String {
        let offset = now.timeIntervalSince(date)
        let relative = abs(offset) < 1 ? "now" : offset > 0 ? "\(duration(offset)) ago" : "in \(duration(-offset))"
        let absolute = ISOTime.format(date, in: .utc)
        return "<time datetime=\"\(absolute)\" title=\"\(absolute)\">\(relative)</time>"
    }

    private static func time(_ date: Date) -> String {
        "<time datetime=\"\(ISOTime.format(date, in: .utc))\">\(ISOTime.format(date, in: .utc))</time>"
    }

    /// Text from outside, safe to place in an element or a quoted attribute.
    static func text(_ raw: String) -> String {
        let redacted = Redaction.redact(raw)
        guard redacted.contains(where: { "&<>\"'".contains($0) }) else { return redacted }
        var escaped = ""
        escaped.reserveCapacity(redacted.utf8.count + 16)
        for character in redacted {
            switch character {
            case "&": escaped += "&amp;"
            case "<": escaped += "&lt;"
            case ">": escaped += "&gt;"
            case "\"": escaped += "&quot;"
            case "'": escaped += "&#39;"
            default: escaped.append(character)
            }
        }
        return escaped
    }

    /// Broken is a strong red, never used for anything else on the page, so a screenshot shows at
    /// a glance (and a test can count) whether something is broken.
    static let brokenColour = "#c62828"

    private static let style = """
        body{font:14px/1.45 system-ui,sans-serif;color:#1b1b1b;background:#fff;margin:0 auto;max-width:1400px;padding:12px 20px}\
        h1{font-size:20px;margin:8px 0}h2{font-size:16px;margin:20px 0 6px}\
        table{border-collapse:collapse;width:100%}th,td{text-align:left;vertical-align:top;padding:4px 8px;border-bottom:1px solid #ddd}\
        th{font-weight:600;background:#f3f3f3}\
        tr.broken td:first-child{border-left:6px solid \(brokenColour)}tr.warn td:first-child{border-left:6px solid #f9a825}\
        tr.ok td:first-child,tr.idle td:first-child{border-left:6px solid transparent}\
        .state{display:inline-block;padding:0 8px;border-radius:3px;font-weight:600}\
        .state.broken{background:\(brokenColour);color:#fff}.state.warn{background:#f9a825;color:#000}\
        .state.ok{background:#2e7d32;color:#fff}.state.idle{background:#e0e0e0;color:#000}\
        .message{font-family:monospace;white-space:pre-wrap;word-break:break-word}\
        .notice{border:2px solid \(brokenColour);padding:4px 12px;margin:8px 0}\
        .none,footer{color:#555}code{font-family:monospace}time{white-space:nowrap}
        """
}
