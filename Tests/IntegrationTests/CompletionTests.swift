import Foundation
import Testing
import TestSupport

/// opsctl's shell completion as a shell runs it: bash sources the script ArgumentParser generates
/// (`opsctl --generate-completion-script bash`, what make install and the package install), and
/// its completion function runs the real opsctl for the names (issue 17 item 3).
@Suite("shell completion of names and of backup/restore options")
struct CompletionTests {
    /// Completes `line` (at its end) the way bash does on TAB, and returns the candidates.
    static func complete(_ line: String, script: String) async throws -> [String] {
        let driver = """
            source "$1"
            line=$2
            read -ra COMP_WORDS <<<"$line"
            [[ "$line" == *" " ]] && COMP_WORDS+=("")
            COMP_CWORD=$(( ${#COMP_WORDS[@]} - 1 ))
            COMP_LINE=$line
            COMP_POINT=${#line}
            _opsctl opsctl "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD-1]}"
            printf '%s\\n' "${COMPREPLY[@]}"
            """
        // The script calls `opsctl` by the name typed: the one under test, first on PATH.
        let result = try await run("/bin/bash", ["-c", driver, "bash", script, line], environment: ["PATH": "\(binDirectory):/usr/bin:/bin"])
        #expect(result.status == 0 && result.stderr.isEmpty, "\(result.stderr)")
        return result.stdout.split(separator: "\n").map(String.init)
    }

    @Test("worker, check and job names come from the config named by --config (or $OPS_CONFIG), and a missing one completes nothing")
    func namesFromTheConfig() async throws {
        let scratch = try Scratch()
        let config = "\(scratch.path)/ops.yaml"
        try """
            daemon: {socket: \(scratch.path)/opsd.sock, state_dir: \(scratch.path)/state}
            workers:
              - {name: web, command: [/bin/sleep, "100"]}
              - {name: queue-runner, command: [/bin/sleep, "100"]}
            checks:
              - {name: disk-root, disk: /, warn: 80%, crit: 90%}
              - {name: memory, memory: {}, warn: 90%}
            jobs:
              - {name: nightly-report, schedule: "@daily", command: [/bin/true]}
            """.write(toFile: config, atomically: true, encoding: .utf8)
        let generated = try await run("opsctl", ["--generate-completion-script", "bash"])
        let script = "\(scratch.path)/opsctl.bash"
        try generated.stdout.write(toFile: script, atomically: true, encoding: .utf8)

        #expect(try await Self.complete("opsctl --config \(config) workers restart ", script: script) == ["all", "web", "queue-runner"])
        #expect(try await Self.complete("opsctl --config \(config) workers stop q", script: script) == ["queue-runner"])
        #expect(try await Self.complete("opsctl health --config \(config) d", script: script) == ["disk-root"])
        #expect(try await Self.complete("opsctl logs --config=\(config) ", script: script) == ["web", "queue-runner", "nightly-report"])
        #expect(try await Self.complete("opsctl --config \(config) jobs run ", script: script) == ["nightly-report"])
        #expect(try await Self.complete("opsctl --config \(config) jobs show n", script: script) == ["nightly-report"])
        // Silent on any problem: no such file, nothing but `all`.
        #expect(try await Self.complete("opsctl --config \(scratch.path)/missing.yaml workers start ", script: script) == ["all"])
    }

    @Test("backup and restore complete the companion's subcommands and options, though opsctl passes them through")
    func companionOptions() async throws {
        let scratch = try Scratch()
        let generated = try await run("opsctl", ["--generate-completion-script", "bash"])
        let script = "\(scratch.path)/opsctl.bash"
        try generated.stdout.write(toFile: script, atomically: true, encoding: .utf8)
        let backup = try await Self.complete("opsctl backup ", script: script)
        #expect(backup.contains("now") && backup.contains("list"), "\(backup)")
        // `opsctl backup` alone is `opsctl backup now`, so now's options are offered there too.
        let bare = try await Self.complete("opsctl backup --", script: script)
        #expect(bare.contains("--json"), "\(bare)")
        let list = try await Self.complete("opsctl backup list --", script: script)
        #expect(list.contains("--from-remote") && list.contains("--json"), "\(list)")
        let restore = try await Self.complete("opsctl restore --", script: script)
        for option in ["--to", "--at", "--db", "--from-remote", "--force"] { #expect(restore.contains(option), "\(option): \(restore)") }
    }
}
