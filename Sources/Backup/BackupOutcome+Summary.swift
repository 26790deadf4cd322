extension BackupOutcome {
    /// One line for a job record and `opsctl jobs`: what was committed and where it went.
    public var summary: String {
        let what = commit.map { "commit \($0.prefix(12)) on \(branch), \(storedBytes) bytes stored" } ?? "no change since the previous backup"
        switch push.state {
        case .notConfigured: return what
        case .pushed: return what + ", remote up to date"
        case .failed: return what + ", push failed (\(push.unpushedCommits) commit(s) local only): \(push.error ?? "unknown error")"
        }
    }
}
