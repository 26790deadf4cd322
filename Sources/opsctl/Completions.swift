import ArgumentParser
import FoundationEssentials
import OpsConfig
import ProcessControl

/// What the shell completes after `opsctl workers start`, `opsctl health`, `opsctl jobs run`,
/// `opsctl logs`: the names in the configuration that command line would use (`--config` on it,
/// else `$OPS_CONFIG`, else the default). Read offline from the file, never from opsd, so
/// completion is quick and works while opsd is down; any problem (no file, no permission, a
/// broken file) completes nothing rather than printing into the user's command line.
enum NameCompletion {
    /// Worker names, and `all`.
    static let workers = CompletionKind.custom { words, _, prefix in
        complete(prefix, from: ["all"] + configuration(words).workers.map(\.name))
    }

    /// Job names.
    static let jobs = CompletionKind.custom { words, _, prefix in
        complete(prefix, from: configuration(words).jobs.map(\.name))
    }

    /// Check names.
    static let checks = CompletionKind.custom { words, _, prefix in
        complete(prefix, from: configuration(words).checks.map(\.name))
    }

    /// Worker and job names: `opsctl logs` takes either.
    static let workersAndJobs = CompletionKind.custom { words, _, prefix in
        let loaded = configuration(words)
        return complete(prefix, from: loaded.workers.map(\.name) + loaded.jobs.map(\.name))
    }

    static func complete(_ prefix: String, from names: [String]) -> [String] {
        names.filter { $0.hasPrefix(prefix) }
    }

    /// The configuration named on the command line being completed, or an empty one.
    static func configuration(_ words: [String]) -> Configuration {
        var path = ProcessInfo.processInfo.environment["OPS_CONFIG"] ?? ConfigLoader.defaultPath
        for (index, word) in words.enumerated() {
            if (word == "--config" || word == "-c"), index + 1 < words.count {
                path = words[index + 1]
            } else if word.hasPrefix("--config=") {
                path = String(word.dropFirst("--config=".count))
            }
        }
        return ConfigLoader.read(path: path).configuration
    }
}

/// Completion of `opsctl backup …` and `opsctl restore …`, which opsctl passes whole to its
/// companion: the companion describes its own commands and options
/// (`opsctl-backup --experimental-dump-help`, ArgumentParser's description of itself), so what
/// the shell offers is always what the installed companion accepts, and opsctl keeps no copy.
enum CompanionCompletion {
    /// Subcommands and options of the backup or restore command being typed.
    static let arguments = CompletionKind.custom { (words: [String], _: Int, prefix: String) async -> [String] in
        guard let outcome = try? await CommandRunner(spawner: DirectSpawner()).run([Companion.path(of: Companion.backup), "--experimental-dump-help"]),
              outcome.status == .exited(0),
              let dump = try? JSONDecoder().decode(Dump.self, from: Data(outcome.output.utf8))
        else { return [] }
        // From the companion's root down the words typed: `backup` → `backup list`.
        var node = dump.command
        var descended = false
        for word in words.dropFirst() {
            if let next = node.subcommands?.first(where: { $0.commandName == word }) {
                node = next
                descended = true
            } else if descended, !word.hasPrefix("-") {
                continue
            }
        }
        guard descended else { return [] }
        let subcommands = (node.subcommands ?? []).filter { $0.commandName != "help" }
        // `opsctl backup --json` is `opsctl backup now --json`: a command's default subcommand
        // takes options in its place. The dump does not name the default; the companion lists it
        // first (BackupCommand's `now`), so the first subcommand's options are offered too.
        let optionSources = [node] + (prefix.hasPrefix("-") ? Array(subcommands.prefix(1)) : [])
        var options: [String] = []
        for argument in optionSources.flatMap({ $0.arguments ?? [] }) where argument.kind != "positional" && argument.shouldDisplay != false {
            for name in argument.names ?? [] {
                let option = (name.kind == "short" ? "-" : "--") + name.name
                if !options.contains(option) { options.append(option) }
            }
        }
        return (subcommands.map(\.commandName) + options).filter { $0.hasPrefix(prefix) }
    }

    /// The part of ArgumentParser's tool-info dump that completion needs.
    struct Dump: Decodable {
        struct Command: Decodable {
            var commandName: String
            var subcommands: [Command]?
            var arguments: [Argument]?
        }
        struct Argument: Decodable {
            struct Name: Decodable {
                var kind: String
                var name: String
            }
            var kind: String
            var names: [Name]?
            var shouldDisplay: Bool?
        }
        var command: Command
    }
}
