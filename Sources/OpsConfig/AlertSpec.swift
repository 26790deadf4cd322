import Glibc
public import Events

/// One entry of `alerts:`: a route that takes some of opsd's events (by kind, severity and
/// subject) to one receiver, a webhook or a command.
public struct AlertSpec: Sendable, Equatable {
    /// Where the route delivers.
    public enum Target: Sendable, Equatable {
        /// An HTTP POST, its body in the route's ``format``.
        case webhook(url: String)
        /// A command run with the event as JSON on stdin and as `OPS_*` environment variables.
        case exec([String])
    }

    /// The body of a webhook: what the receiver understands.
    public enum WebhookFormat: String, Sendable, Equatable, CaseIterable {
        /// opsd's own JSON body, versioned (docs/alerts.md has its schema).
        case json
        /// `{"text": …}`: Slack incoming webhooks, and Mattermost's, which take the same body.
        case slack
        /// `{"content": …}`: Discord webhooks.
        case discord
    }

    /// How logs and `/metrics` name the route: `name:`, or its key path (`alerts[0]`).
    public var name: String
    /// Where the route delivers.
    public var target: Target
    /// The body of a webhook; exec hooks always get the JSON body.
    public var format: WebhookFormat
    /// The kinds the route takes; nil: every kind (down to ``severity``).
    public var on: [EventKind]?
    /// The least severity the route takes; nil: `warning` when ``on`` is nil, none when the
    /// route lists its kinds (a listed kind is taken whatever its severity).
    public var severity: Severity?
    /// The subjects the route takes (names and globs per sort of subject).
    public var subjects: SubjectSelection
    /// Whether the `ok` event that ends a condition goes to this route when it sent the bad one.
    public var sendResolved: Bool
    /// Re-send the last bad event of a condition that stays bad this often (Alertmanager's
    /// `repeat_interval`); nil: send it once.
    public var repeatInterval: Duration?
    /// At most this many alerts leave through this route within the window; more are dropped
    /// (counted and logged), so a flapping check cannot flood a pager.
    public var limit: BurstLimit

    /// The limit of a route that sets none: 20 alerts in 10 minutes.
    public static let defaultLimit = BurstLimit(count: 20, window: .seconds(600))

    /// Creates an alert route: every kind of warning and critical events, resolved messages, no
    /// repeats, 20 alerts in 10 minutes.
    public init(
        name: String = "alert", target: Target, format: WebhookFormat = .json, on: [EventKind]? = nil, severity: Severity? = nil,
        subjects: SubjectSelection = SubjectSelection(), sendResolved: Bool = true, repeatInterval: Duration? = nil,
        limit: BurstLimit = AlertSpec.defaultLimit
    ) {
        self.name = name
        self.target = target
        self.format = format
        self.on = on
        self.severity = severity
        self.subjects = subjects
        self.sendResolved = sendResolved
        self.repeatInterval = repeatInterval
        self.limit = limit
    }
}

/// `checks:`, `workers:` and `jobs:` of a route: which subjects it takes. With none of them the
/// route takes every subject; with some, only subjects of those sorts whose name matches one of
/// their patterns (backup events count as their backup job's, so `jobs:` selects them).
public struct SubjectSelection: Sendable, Equatable {
    /// Patterns for check names; nil: the route takes no check events (unless all lists are nil).
    public var checks: [NamePattern]?
    /// Patterns for worker names.
    public var workers: [NamePattern]?
    /// Patterns for job names (the backup job's name selects backup events).
    public var jobs: [NamePattern]?

    /// Creates a selection; no lists: every subject.
    public init(checks: [NamePattern]? = nil, workers: [NamePattern]? = nil, jobs: [NamePattern]? = nil) {
        self.checks = checks
        self.workers = workers
        self.jobs = jobs
    }

    /// True when no list is given: every subject, opsd's own events included.
    public var takesEverything: Bool { checks == nil && workers == nil && jobs == nil }

    /// Whether the route takes events about `subject`.
    public func takes(_ subject: Subject) -> Bool {
        if takesEverything { return true }
        let patterns: [NamePattern]? = switch subject.kind {
        case .check: checks
        case .worker: workers
        case .job, .backup: jobs
        case .daemon: nil
        }
        return patterns?.contains { $0.matches(subject.name) } ?? false
    }
}

/// A name or a shell-style glob (`disk-*`, `web?`, `[ab]-queue`) that selects checks, workers or
/// jobs by name; validated when the configuration is read.
public struct NamePattern: Sendable, Equatable, CustomStringConvertible {
    /// The pattern as written.
    public let text: String

    /// The pattern, or a sentence saying what is wrong with it.
    public static func parse(_ text: String) -> Result<NamePattern, PatternProblem> {
        if text.isEmpty { return .failure(PatternProblem("is empty")) }
        var inBracket = false
        var bracketSize = 0
        for character in text {
            let nameCharacter = character.isASCII && (character.isLetter || character.isNumber || "_.-".contains(character))
            if inBracket {
                if character == "]", bracketSize > 0 {
                    inBracket = false
                } else if nameCharacter || (character == "!" && bracketSize == 0) {
                    bracketSize += 1
                } else {
                    return .failure(PatternProblem("has \(describe(character)) inside [...], where only name characters (and a leading !) belong"))
                }
            } else if character == "[" {
                inBracket = true
                bracketSize = 0
            } else if character == "]" {
                return .failure(PatternProblem("has a \"]\" without a \"[\" before it"))
            } else if !nameCharacter, character != "*", character != "?" {
                return .failure(PatternProblem("contains \(describe(character)), which no name has"))
            }
        }
        if inBracket { return .failure(PatternProblem("opens a \"[\" that is never closed")) }
        return .success(NamePattern(text: text))
    }

    private static func describe(_ character: Character) -> String {
        character == " " ? "a space" : "\"\(character)\""
    }

    private init(text: String) {
        self.text = text
    }

    /// Whether the pattern has wildcards; without them it names one thing.
    public var isLiteral: Bool { !text.contains { "*?[".contains($0) } }

    /// Whether `name` matches, as the shell matches file names (fnmatch without flags).
    public func matches(_ name: String) -> Bool {
        fnmatch(text, name, 0) == 0
    }

    /// The pattern as written.
    public var description: String { text }

    /// What is wrong with a pattern, as the end of a sentence ("opens a "[" that is never closed").
    public struct PatternProblem: Error, Sendable {
        /// The reason.
        public let reason: String
        init(_ reason: String) { self.reason = reason }
    }
}
