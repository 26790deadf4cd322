import Foundation
import Testing
import TestSupport

/// The status page on `daemon.listen`, loaded by a real browser: Debian's headless Chromium reads
/// it from a running opsd, and the test looks at the DOM it built and at the pixels it painted.
@Suite("The status page in a real browser", .serialized)
struct StatusPageTests {
    /// The broken colour of StatusPageHTML (#c62828).
    static let broken = (red: 198, green: 40, blue: 40)

    @Test("Chromium shows the fatal worker as broken in red, the healthy one running, and a hostile check message as text with its password masked")
    func brokenWorker() async throws {
        let scratch = try Scratch()
        let port = try freePort()
        // The check's output is hostile: markup, an entity, and a URL with a password.
        let daemon = try await Self.opsd(scratch: scratch, port: port, broken: true, check: """
              - name: hostile
                command: [/bin/sh, -c, "echo '<script>document.title=\\"owned\\"</script><b>bold</b> &amp; https://ops:hunter2@db.example/x'; exit 2"]
                every: 1h
            """)

        let started = ContinuousClock.now
        // Under strace, to see every socket Chromium uses: with the flags below it reaches opsd and
        // nothing else (Chromium 156 still connect()s a UDP socket to 2001:4860:4860::8888 to learn
        // whether IPv6 has a route, which sends no packet; a send on it would show here).
        let trace = "\(scratch.path)/chromium.strace"
        let dom = try await Browser(scratch: scratch).dumpDOM("http://127.0.0.1:\(port)/", traceTo: trace)
        let traffic = try Self.inetTraffic(trace)
        #expect(traffic.loopbackConnects > 0, "the trace shows no connection to opsd; is strace's format still understood?")
        #expect(traffic.elsewhere.isEmpty, "Chromium used the network beyond 127.0.0.1:\n\(traffic.elsewhere.joined(separator: "\n"))")
        // The broken worker's row: class broken, its state's word, why.
        let brokenRow = try #require(Self.row(named: "broken", in: dom), "no row for the broken worker in:\n\(dom)")
        #expect(brokenRow.hasPrefix("<tr class=\"broken\""))
        #expect(brokenRow.contains("<span class=\"state broken\">fatal</span>"))
        #expect(brokenRow.contains("failed 2 starts within 1m"))
        let webRow = try #require(Self.row(named: "web", in: dom))
        #expect(webRow.hasPrefix("<tr class=\"ok\""))
        #expect(webRow.contains("<span class=\"state ok\">running</span>"))
        let checkRow = try #require(Self.row(named: "hostile", in: dom))
        #expect(checkRow.contains("<span class=\"state broken\">crit</span>"))
        // The message is text: the browser made no element of it, and the script never ran.
        #expect(checkRow.contains("&lt;script&gt;document.title=\"owned\"&lt;/script&gt;&lt;b&gt;bold&lt;/b&gt; &amp;amp; https://ops:***@db.example/x"))
        #expect(!dom.contains("<script"))
        #expect(!dom.contains("<b>bold"))
        #expect(!dom.contains("owned</title>"))
        #expect(!dom.contains("hunter2"))
        let jobRow = try #require(Self.row(named: "hello", in: dom))
        #expect(jobRow.contains("<span class=\"state ok\">ok</span>"))
        #expect(dom.contains("<meta http-equiv=\"refresh\" content=\"10\">"))
        #expect(dom.contains("2 broken"))
        #expect(dom.contains("worker_fatal"))

        let screenshot = try await Browser(scratch: scratch).screenshot("http://127.0.0.1:\(port)/status", to: "\(scratch.path)/broken.png")
        let red = try await Self.pixels(in: screenshot, like: Self.broken)
        #expect(red > 500, "pixels of the broken colour: \(red)")
        print("status page: two Chromium loads took \(ContinuousClock.now - started)")

        // Read-only: another method on the page is refused.
        let post = try await run("/usr/bin/curl", ["-s", "-o", "/dev/null", "-w", "%{http_code}", "-X", "POST", "http://127.0.0.1:\(port)/"])
        #expect(post.stdout == "405")

        daemon.signal(SIGTERM)
        #expect(await daemon.exitStatus() == 0)
    }

    @Test("with everything healthy the screenshot has no pixel of the broken colour, so the red count above can fail")
    func healthyHasNoRed() async throws {
        let scratch = try Scratch()
        let port = try freePort()
        let daemon = try await Self.opsd(scratch: scratch, port: port, broken: false, check: Self.fineCheck)

        let dom = try await Browser(scratch: scratch).dumpDOM("http://127.0.0.1:\(port)/")
        #expect(dom.contains("all ok"))
        #expect(!dom.contains("class=\"broken\""))
        let screenshot = try await Browser(scratch: scratch).screenshot("http://127.0.0.1:\(port)/", to: "\(scratch.path)/healthy.png")
        #expect(try await Self.pixels(in: screenshot, like: Self.broken) == 0)

        daemon.signal(SIGTERM)
        #expect(await daemon.exitStatus() == 0)
    }

    @Test("serving the page 50 times grows opsd's memory by less than 0.5 MiB")
    func memory() async throws {
        let scratch = try Scratch()
        let port = try freePort()
        let daemon = try await Self.opsd(scratch: scratch, port: port, broken: true, check: Self.fineCheck)
        // /metrics first, so the figure is the page's own cost, not the listener's first connection.
        let scrape = try await run("/usr/bin/curl", ["-sf", "-o", "/dev/null", "http://127.0.0.1:\(port)/metrics"])
        #expect(scrape.status == 0)
        let before = try MemoryMap(pid: daemon.pid)
        let urls = (0..<50).flatMap { _ in ["-o", "/dev/null", "http://127.0.0.1:\(port)/"] }
        let pages = try await run("/usr/bin/curl", ["-sf"] + urls)
        #expect(pages.status == 0, "\(pages.stderr)")
        let after = try MemoryMap(pid: daemon.pid)
        let own = Double(after.pssGrowth(since: before)) / 1024
        let total = Double(after.pss - before.pss) / 1024
        print("status page: 50 pages grew opsd's PSS by \(own) MiB in the mappings whose pages it touched (by \(total) MiB in all, \(before.pss) → \(after.pss) kB)")
        #expect(own < 0.5, "50 pages grew opsd's PSS by \(own) MiB (\(total) MiB in all)")

        daemon.signal(SIGTERM)
        #expect(await daemon.exitStatus() == 0)
    }

    // MARK: Helpers

    /// A check that passes.
    static let fineCheck = """
          - {name: fine, command: [/bin/sh, -c, "echo fine; exit 0"], every: 1h}
        """

    /// A real opsd listening on `port` with a healthy worker `web`, the check `check` (YAML, one
    /// list entry) and a job `hello` that has run once; with `broken`, also a worker whose program
    /// does not exist, returned once it is fatal. Returns once the check has its first state.
    static func opsd(scratch: Scratch, port: Int, broken: Bool, check: String) async throws -> Daemon {
        let brokenWorker = broken
            ? "  - {name: broken, command: [/opt/ops-no-such-program], restart: {policy: always, backoff: 10ms..10ms, burst: 2 in 60s}}"
            : ""
        let config = try scratch.config(extra: """
              listen: 127.0.0.1:\(port)
            workers:
              - {name: web, command: [/bin/sleep, "1000"]}
            \(brokenWorker)
            checks:
            \(check)
            jobs:
              - {name: hello, command: [/bin/echo, hi], every: 1h}
            """)
        let daemon = try await Daemon(config: config, scratch: scratch)
        if broken { _ = try await daemon.logStream.first { $0.message.hasPrefix("worker is fatal") && $0.fields["worker"] == "broken" } }
        _ = try await daemon.logStream.first { $0.message == "check state changed" }
        let job = try await run("opsctl", ["--config", config, "jobs", "run", "hello"])
        #expect(job.status == 0, "\(job.stderr)")
        return daemon
    }

    /// The `<tr>` … `</tr>` whose `data-name` is `name` (the first: a worker's row comes before events).
    static func row(named name: String, in dom: String) -> String? {
        guard let marker = dom.range(of: "data-name=\"\(name)\"") else { return nil }
        guard let start = dom[..<marker.lowerBound].range(of: "<tr", options: .backwards),
              let end = dom[marker.upperBound...].range(of: "</tr>") else { return nil }
        return String(dom[start.lowerBound..<end.upperBound])
    }

    /// What an `strace -yy` log says about Chromium's IP sockets: how many TCP connections went to
    /// 127.0.0.1, and every line that connected a TCP socket, or sent anything, elsewhere.
    static func inetTraffic(_ path: String) throws -> (loopbackConnects: Int, elsewhere: [String]) {
        let log = try String(contentsOfFile: path, encoding: .utf8)
        let addresses = try Regex(#"inet_addr\("([^"]+)"\)|inet_pton\(AF_INET6, "([^"]+)"|[\[>]([0-9.]+|[0-9a-f:]+):\d+"#)
        var loopbackConnects = 0
        var elsewhere: [String] = []
        for line in log.split(separator: "\n") where line.contains("<TCP") || line.contains("<UDP") {
            // "PID  call(…": strace pads the pid with spaces to five columns.
            let call = line.drop { $0 != " " }.drop { $0 == " " }.prefix { $0 != "(" }
            let ips = line.matches(of: addresses).compactMap { match in
                (match.output[1].substring ?? match.output[2].substring ?? match.output[3].substring).map(String.init)
            }
            let local = ips.allSatisfy { $0.hasPrefix("127.") || $0 == "::1" || $0.hasPrefix("::ffff:127.") }
            if call == "connect" {
                // A UDP connect() only picks a route; what counts is whether anything is sent.
                guard line.contains("<TCP") else { continue }
                if local { loopbackConnects += 1 } else { elsewhere.append(String(line)) }
            } else if !local {
                elsewhere.append(String(line))
            }
        }
        return (loopbackConnects, elsewhere)
    }

    /// A process's mappings with their Rss and Pss in kB, from /proc/PID/smaps.
    ///
    /// A library's PSS is its pages divided among the processes mapping them, so it moves when
    /// other processes (tests running beside this one) start or end. The growth that is opsd's
    /// own is in the mappings whose resident pages changed: ``pssGrowth(since:)`` counts those.
    struct MemoryMap {
        var mappings: [String: (rss: Int, pss: Int)] = [:]

        init(pid: Int32) throws {
            let smaps = try String(contentsOfFile: "/proc/\(pid)/smaps", encoding: .utf8)
            var current = ""
            for line in smaps.split(separator: "\n") {
                let fields = line.split(whereSeparator: \.isWhitespace)
                guard let key = fields.first else { continue }
                if key.contains("-") && !key.hasSuffix(":") {
                    current = String(key)
                    mappings[current] = (0, 0)
                } else if key == "Rss:" || key == "Pss:", fields.count > 1, let kilobytes = Int(fields[1]) {
                    if key == "Rss:" { mappings[current]?.rss = kilobytes } else { mappings[current]?.pss = kilobytes }
                }
            }
        }

        var pss: Int { mappings.values.reduce(0) { $0 + $1.pss } }

        /// The PSS gained in mappings that are new or whose resident size changed, minus what
        /// mappings that went away held.
        func pssGrowth(since before: MemoryMap) -> Int {
            var growth = 0
            for (range, now) in mappings {
                guard let then = before.mappings[range] else { growth += now.pss; continue }
                if now.rss != then.rss { growth += now.pss - then.pss }
            }
            for (range, then) in before.mappings where mappings[range] == nil { growth -= then.pss }
            return growth
        }
    }

    /// How many pixels of the PNG at `path` are within 8 of `colour` in each channel, decoded by
    /// python3's standard library (zlib) rather than trusting the browser's own report.
    static func pixels(in path: String, like colour: (red: Int, green: Int, blue: Int)) async throws -> Int {
        let decoder = """
            import struct, sys, zlib
            data = open(sys.argv[1], 'rb').read()
            assert data[:8] == b'\\x89PNG\\r\\n\\x1a\\n', 'not a PNG'
            pos, idat, head = 8, b'', None
            while pos < len(data):
                length, kind = struct.unpack('>I4s', data[pos:pos + 8])
                body = data[pos + 8:pos + 8 + length]
                if kind == b'IHDR': head = struct.unpack('>IIBBBBB', body)
                elif kind == b'IDAT': idat += body
                pos += 12 + length
            width, height, depth, colour, _, _, interlace = head
            assert depth == 8 and colour in (2, 6) and interlace == 0, head
            step = 3 if colour == 2 else 4
            raw, stride = zlib.decompress(idat), width * step
            previous, rows, i = bytearray(stride), [], 0
            for _ in range(height):
                kind, line = raw[i], bytearray(raw[i + 1:i + 1 + stride]); i += 1 + stride
                for x in range(stride):
                    a = line[x - step] if x >= step else 0
                    b = previous[x]
                    c = previous[x - step] if x >= step else 0
                    if kind == 1: line[x] = (line[x] + a) & 255
                    elif kind == 2: line[x] = (line[x] + b) & 255
                    elif kind == 3: line[x] = (line[x] + (a + b) // 2) & 255
                    elif kind == 4:
                        p = a + b - c; pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                        line[x] = (line[x] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
                rows.append(line); previous = line
            r, g, b = (int(v) for v in sys.argv[2:5])
            print(sum(1 for line in rows for x in range(0, stride, step)
                      if abs(line[x] - r) <= 8 and abs(line[x + 1] - g) <= 8 and abs(line[x + 2] - b) <= 8))
            """
        let script = URL(fileURLWithPath: path).deletingLastPathComponent().appendingPathComponent("png_pixels.py").path
        try decoder.write(toFile: script, atomically: true, encoding: .utf8)
        let process = Process()
        let output = Pipe()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
        process.arguments = [script, path, String(colour.red), String(colour.green), String(colour.blue)]
        process.standardOutput = output
        try process.run()
        // The decoder takes seconds: it waits on a thread of its own, not on one of the two
        // threads of Swift's cooperative pool, which every other test in the process needs.
        let reading = output.fileHandleForReading
        let (text, status): (String, Int32) = await onNewThread {
            let text = String(decoding: reading.readDataToEndOfFile(), as: UTF8.self)
            process.waitUntilExit()
            return (text, process.terminationStatus)
        }
        guard status == 0, let count = Int(text.trimmingCharacters(in: .whitespacesAndNewlines)) else {
            throw TestFailure("cannot decode \(path): \(text)")
        }
        return count
    }
}

/// Debian's Chromium, headless, with a profile of its own in the scratch directory and every
/// feature that would reach the network off: it talks to 127.0.0.1 and nothing else. Each run is
/// a process group of its own (opsd's spawner starts a new session), killed by its id if it
/// outlives its time.
struct Browser {
    let scratch: Scratch
    var timeout: Duration = .seconds(90)

    static let offline = [
        "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--disable-default-apps", "--disable-extensions", "--no-pings",
        "--disable-domain-reliability", "--metrics-recording-only", "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",
    ]

    /// The DOM after loading `url`, serialised; with `traceTo`, Chromium runs under strace, which
    /// logs its IP sockets' connects and sends there (`-yy` names each socket's protocol and ends).
    func dumpDOM(_ url: String, traceTo: String? = nil) async throws -> String {
        try await run(["--dump-dom", url], traceTo: traceTo).stdout
    }

    /// Paints `url` in a 1200×900 window into `path`; returns `path`.
    func screenshot(_ url: String, to path: String) async throws -> String {
        _ = try await run(["--screenshot=\(path)", "--window-size=1200,900", url])
        guard FileManager.default.fileExists(atPath: path) else { throw TestFailure("Chromium wrote no screenshot at \(path)") }
        return path
    }

    private func run(_ arguments: [String], traceTo: String? = nil) async throws -> (status: Int32, stdout: String) {
        let base = "\(scratch.path)/chromium-\(UUID().uuidString.prefix(8))"
        let out = open(base + ".out", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        let err = open(base + ".err", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        let null = open("/dev/null", O_RDONLY | O_CLOEXEC)
        defer { [out, err, null].forEach { close($0) } }
        var environment = ProcessInfo.processInfo.environment
        environment["HOME"] = scratch.path
        var command = ["/usr/bin/chromium"] + Self.offline + ["--user-data-dir=\(scratch.path)/chromium-profile"] + arguments
        if let traceTo {
            command = [
                "/usr/bin/strace", "-f", "-qq", "-yy", "-e", "trace=connect,sendto,sendmsg,sendmmsg,write,writev", "-e", "signal=none", "-o", traceTo,
            ] + command
        }
        let pid = try spawn(command[0], Array(command.dropFirst()), environment: environment, stdout: out, stderr: err, stdin: null)
        let limit = timeout
        let watchdog = Task {
            try await Task.sleep(for: limit)
            kill(-pid, SIGKILL)
        }
        let status: Int32 = await onNewThread {
            var raw: Int32 = 0
            while waitpid(pid, &raw, 0) < 0 && errno == EINTR {}
            return raw & 0x7f == 0 ? (raw >> 8) & 0xff : 128 + (raw & 0x7f)
        }
        watchdog.cancel()
        // Its helpers (zygote, crashpad) share its process group: none outlives the run, and its
        // profile (a few MiB) goes with it.
        kill(-pid, SIGKILL)
        try? FileManager.default.removeItem(atPath: "\(scratch.path)/chromium-profile")
        let stdout = (try? String(contentsOfFile: base + ".out", encoding: .utf8)) ?? ""
        guard status == 0 else {
            let stderr = (try? String(contentsOfFile: base + ".err", encoding: .utf8)) ?? ""
            throw TestFailure("chromium \(arguments.joined(separator: " ")) ended with \(status)\(status == 137 ? " (killed after \(limit))" : ""):\n\(stderr.suffix(2000))")
        }
        return (status, stdout)
    }
}
