// Calendar arithmetic on plain integers: days since 1970-01-01 ↔ year, month, day in the
// proleptic Gregorian calendar. Zones, cron matching and ISO timestamps all need it, and doing it
// by hand keeps Calendar (and the ICU behind it) out of the process.

/// Civil date from days since 1970-01-01 (Howard Hinnant's algorithm): proleptic Gregorian,
/// exact for every day, no Calendar object needed in the hot loop.
func civil(fromDays days: Int64) -> (year: Int, month: Int, day: Int) {
    let z = days + 719_468
    let era = floorDiv(z, 146_097)
    let doe = z - era * 146_097
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
    let mp = (5 * doy + 2) / 153
    let day = doy - (153 * mp + 2) / 5 + 1
    let month = mp < 10 ? mp + 3 : mp - 9
    return (Int(yoe + era * 400 + (month <= 2 ? 1 : 0)), Int(month), Int(day))
}

/// Days since 1970-01-01 of a civil date, the inverse of ``civil(fromDays:)`` (same algorithm,
/// run backwards). `month` must be 1–12; `day` may run past the month's end, it just counts on.
func days(fromCivil year: Int, _ month: Int, _ day: Int) -> Int64 {
    let y = Int64(month <= 2 ? year - 1 : year)
    let era = floorDiv(y, 400)
    let yoe = y - era * 400
    let m = Int64(month)
    let doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + Int64(day) - 1
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
    return era * 146_097 + doe - 719_468
}

func isLeapYear(_ year: Int) -> Bool { year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) }

/// Days in `month` (1–12) of `year`.
func daysInMonth(_ year: Int, _ month: Int) -> Int {
    switch month {
    case 2: return isLeapYear(year) ? 29 : 28
    case 4, 6, 9, 11: return 30
    default: return 31
    }
}

func floorDiv(_ a: Int64, _ b: Int64) -> Int64 { a >= 0 ? a / b : -((-a + b - 1) / b) }
func floorMod(_ a: Int64, _ b: Int64) -> Int64 { a - floorDiv(a, b) * b }
