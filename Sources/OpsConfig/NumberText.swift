/// Numbers as opsd and opsctl print them, with a fixed number of decimals: what
/// `String(format: "%.1f")` did before the daemon dropped full Foundation (whose formatting
/// brings ICU along; see docs/performance-notes.md).
public enum NumberText {
    /// `value` rounded half away from zero to `digits` decimals (0 to 9): `fixed(2.345, digits: 1)`
    /// is "2.3", `fixed(-0.04, digits: 1)` is "-0.0" as printf has it.
    public static func fixed(_ value: Double, digits: Int) -> String {
        guard value.isFinite else { return value.isNaN ? "nan" : (value < 0 ? "-inf" : "inf") }
        let digits = min(max(digits, 0), 9)
        var scale = 1.0
        for _ in 0..<digits { scale *= 10 }
        let scaled = (abs(value) * scale).rounded(.toNearestOrAwayFromZero)
        // Beyond 2^63 a Double has no decimals left to print.
        guard scaled < 9.2e18 else { return "\(value.rounded())" }
        let units = UInt64(scaled)
        let divisor = UInt64(scale)
        let whole = units / divisor
        let sign = value < 0 || (value == 0 && value.sign == .minus) ? "-" : ""
        guard digits > 0 else { return sign + String(whole) }
        let fraction = String(units % divisor)
        return sign + String(whole) + "." + String(repeating: "0", count: digits - fraction.count) + fraction
    }

    /// `value` with leading zeros to `width` digits: `padded(7, width: 2)` is "07".
    public static func padded(_ value: Int, width: Int) -> String {
        let digits = String(abs(value))
        return (value < 0 ? "-" : "") + String(repeating: "0", count: max(0, width - digits.count)) + digits
    }
}
