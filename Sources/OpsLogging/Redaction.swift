/// Removes credentials from text before it is logged.
///
/// The config refuses URLs with passwords, but URLs also arrive from other places (a git remote's
/// error message, a webhook response): every log line passes through here, so a password in a URL
/// never reaches the journal.
public enum Redaction {
    /// `scheme://user:secret@host` → `scheme://user:***@host`, for every URL in `text`.
    public static func redact(_ text: String) -> String {
        guard text.contains("://"), text.contains("@") else { return text }
        var result = ""
        var rest = Substring(text)
        while let scheme = rest.firstRange(of: "://") {
            result += rest[..<scheme.upperBound]
            rest = rest[scheme.upperBound...]
            let authorityEnd = rest.firstIndex { $0 == "/" || $0 == " " || $0 == "\"" || $0 == "'" || $0 == "\n" } ?? rest.endIndex
            let authority = rest[..<authorityEnd]
            if let at = authority.lastIndex(of: "@"), let colon = authority[..<at].firstIndex(of: ":") {
                result += authority[...colon] + "***" + authority[at...]
            } else {
                result += authority
            }
            rest = rest[authorityEnd...]
        }
        return result + rest
    }
}
