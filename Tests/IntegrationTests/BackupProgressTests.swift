import Foundation
import Testing
import TestSupport

/// Issue 17 item 5: `opsctl backup` and `opsctl restore` draw one progress line on a terminal
/// (phase, bytes of the total, rate, time left), cleared at the end, and nothing of it where no
/// person watches: stderr a pipe or a file (cron, systemd, opsd's jobs), or `--json`.
@Suite("backup and restore progress on a terminal")
struct BackupProgressTests {
    /// What erases the line before each redraw, and at the end: the progress line's signature.
    static let clear = "\r\u{1B}[K"

    /// Runs `arguments` (an opsctl command line) with stderr on a pseudo-terminal and stdout on a
    /// pipe, through python3's pty module; returns the exit status, stdout and what the terminal got.
    static func onTerminal(_ arguments: [String], term: String = "xterm") async throws -> (status: Int, stdout: String, tty: String) {
        let driver = """
            import json, os, pty, subprocess, sys
            master, slave = pty.openpty()
            child = subprocess.Popen(sys.argv[1:], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=slave)
            os.close(slave)
            tty = b""
            while True:
                try:
                    chunk = os.read(master, 65536)
                except OSError:
                    break
                if not chunk:
                    break
                tty += chunk
            out = child.stdout.read()
            child.wait()
            json.dump({"status": child.returncode, "stdout": out.decode(), "tty": tty.decode("utf-8", "replace")}, sys.stdout)
            """
        let result = try await run("/usr/bin/python3", ["-c", driver, "\(binDirectory)/opsctl"] + arguments, environment: ["TERM": term])
        try #require(result.status == 0, "the pty driver failed: \(result.stderr)")
        let object = try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
        return (object["status"] as? Int ?? -1, object["stdout"] as? String ?? "", object["tty"] as? String ?? "")
    }

    /// A database of about 4 MiB, a bare remote, and a config that backs the one up to the other,
    /// with a file that does not exist, so the backup logs a warning while its progress line is drawn.
    static func setUp() async throws -> (scratch: Scratch, config: String) {
        let scratch = try Scratch()
        let database = "\(scratch.path)/app.db"
        let fill = "CREATE TABLE t (x); WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < 20000) INSERT INTO t SELECT randomblob(200) FROM c;"
        try #require(try await run("/usr/bin/sqlite3", [database, fill]).status == 0)
        try #require(try await run("/usr/bin/git", ["init", "-q", "--bare", "\(scratch.path)/remote.git"]).status == 0)
        let config = try scratch.config(extra: """
            backup:
              repository: \(scratch.path)/backup.git
              databases: [\(database)]
              files: [\(scratch.path)/missing.conf]
              remote:
                url: \(scratch.path)/remote.git
            """)
        return (scratch, config)
    }

    @Test("on a terminal: each phase with its bytes (snapshot, store, commit, push; fetch, write, verify), and the line cleared at the end")
    func progressOnTerminal() async throws {
        let (scratch, config) = try await Self.setUp()
        let backup = try await Self.onTerminal(["backup", "--config", config])
        #expect(backup.status == 0, "\(backup.tty)")
        #expect(backup.stdout.contains("backup committed"), "\(backup.stdout)")
        let drawn = backup.tty.components(separatedBy: Self.clear).filter { !$0.isEmpty }
        for phase in ["snapshot app", "store app", "commit", "push"] {
            #expect(drawn.contains { $0.hasPrefix(phase) }, "no \(phase) line on the terminal: \(drawn)")
        }
        #expect(drawn.contains { $0.contains(#/^store app  [0-9.]+ (B|KiB|MiB) / [0-9.]+ MiB  [0-9]+%/#) }, "no bytes of the total: \(drawn)")
        #expect(backup.tty.hasSuffix(Self.clear), "the progress line is not cleared at the end: \(backup.tty.debugDescription)")
        // A log line written meanwhile starts on a cleared line (the human format, on a terminal).
        #expect(backup.tty.contains(#/\r\e\[K\d\d:\d\d:\d\d\.\d{3} warning +backup: configured file does not exist/#), "\(backup.tty.debugDescription)")

        let restore = try await Self.onTerminal(["restore", "--config", config, "--from-remote", "--to", "\(scratch.path)/restored.db"])
        #expect(restore.status == 0, "\(restore.tty)")
        let restoreDrawn = restore.tty.components(separatedBy: Self.clear)
        for phase in ["fetch", "write app", "verify app"] {
            #expect(restoreDrawn.contains { $0.hasPrefix(phase) }, "no \(phase) line on the terminal: \(restoreDrawn)")
        }
        #expect(restoreDrawn.contains { $0.contains(#/^write app  [0-9.]+ (B|KiB|MiB) / [0-9.]+ MiB/#) }, "no bytes of the total: \(restoreDrawn)")
        // The line saying where the restore was recorded starts on a cleared line.
        #expect(restore.tty.contains(Self.clear + "opsctl: database app restored"), "\(restore.tty.debugDescription)")
    }

    @Test("nothing of it when stderr is a pipe or a file, nor with --json on a terminal")
    func silentForMachines() async throws {
        let (scratch, config) = try await Self.setUp()
        let piped = try await run("opsctl", ["backup", "--config", config])
        #expect(piped.status == 0, "\(piped.stderr)")
        #expect(!piped.stderr.contains("\u{1B}[K") && !piped.stderr.contains("store app"), "progress on a file: \(piped.stderr.debugDescription)")

        try #require(try await run("/usr/bin/sqlite3", ["\(scratch.path)/app.db", "UPDATE t SET x = randomblob(200) WHERE rowid % 50 = 0;"]).status == 0)
        let json = try await Self.onTerminal(["backup", "--config", config, "--json"])
        #expect(json.status == 0, "\(json.tty)")
        #expect(json.stdout.hasPrefix("{"), "\(json.stdout)")
        #expect(!json.tty.contains("\u{1B}[K") && !json.tty.contains("store app"), "progress with --json: \(json.tty.debugDescription)")

        let restorePiped = try await run("opsctl", ["restore", "--config", config, "--from-remote", "--to", "\(scratch.path)/a.db"])
        #expect(restorePiped.status == 0, "\(restorePiped.stderr)")
        #expect(!restorePiped.stderr.contains("\u{1B}[K") && !restorePiped.stderr.contains("write app"), "\(restorePiped.stderr.debugDescription)")
        let restoreJSON = try await Self.onTerminal(["restore", "--config", config, "--from-remote", "--to", "\(scratch.path)/b.db", "--json"])
        #expect(restoreJSON.status == 0, "\(restoreJSON.tty)")
        #expect(!restoreJSON.tty.contains("\u{1B}[K") && !restoreJSON.tty.contains("write app"), "\(restoreJSON.tty.debugDescription)")
        // A terminal that cannot erase a line (an editor's shell buffer) gets no progress either.
        let dumb = try await Self.onTerminal(["restore", "--config", config, "--from-remote", "--to", "\(scratch.path)/c.db"], term: "dumb")
        #expect(dumb.status == 0, "\(dumb.tty)")
        #expect(!dumb.tty.contains("\u{1B}[K") && !dumb.tty.contains("write app"), "\(dumb.tty.debugDescription)")
    }
}
