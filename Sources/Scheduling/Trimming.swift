// Foundation's `trimmingCharacters(in: .whitespaces)` and `(in: .whitespacesAndNewlines)` without
// CharacterSet, which is not in FoundationEssentials. The sets are Foundation's, character for
// character (a test compares them over all of Unicode), so config values trim as they did.

extension StringProtocol {
    /// The text without leading and trailing spaces and tabs (`CharacterSet.whitespaces`).
    public func trimmingWhitespace() -> Substring {
        trimming(where: isWhitespace)
    }

    /// The text without leading and trailing whitespace and line breaks
    /// (`CharacterSet.whitespacesAndNewlines`).
    public func trimmingWhitespaceAndNewlines() -> Substring {
        trimming { isWhitespace($0) || isNewline($0) }
    }

    /// Like Foundation, this looks at Unicode scalars, not characters: a space followed by a
    /// combining accent loses the space and keeps the accent.
    private func trimming(where isTrimmed: (Unicode.Scalar) -> Bool) -> Substring {
        let scalars = Substring(self).unicodeScalars
        guard let first = scalars.firstIndex(where: { !isTrimmed($0) }), let last = scalars.lastIndex(where: { !isTrimmed($0) })
        else { return "" }
        return Substring(scalars[first...last])
    }
}

/// `CharacterSet.whitespaces`: tab, and Unicode's spaces (general category Zs) with U+200B, the
/// zero-width space, which Foundation counts as one.
private func isWhitespace(_ scalar: Unicode.Scalar) -> Bool {
    switch scalar.value {
    case 0x09, 0x20, 0xA0, 0x1680, 0x2000...0x200B, 0x202F, 0x205F, 0x3000: return true
    default: return false
    }
}

/// The line breaks `CharacterSet.whitespacesAndNewlines` adds: LF, VT, FF, CR, NEL, and the line
/// and paragraph separators.
private func isNewline(_ scalar: Unicode.Scalar) -> Bool {
    switch scalar.value {
    case 0x0A...0x0D, 0x85, 0x2028, 0x2029: return true
    default: return false
    }
}
