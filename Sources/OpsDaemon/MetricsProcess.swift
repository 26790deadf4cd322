import Glibc

extension MetricsSnapshot.ProcessFigures {
    private static let pageSize = UInt64(sysconf(Int32(_SC_PAGESIZE)))

    /// opsd's own figures, as cheaply as Linux gives them: CPU time from getrusage, memory from
    /// one read of /proc/self/statm, descriptors by listing /proc/self/fd, the limit from
    /// getrlimit. nil when /proc is not mounted.
    static func current() -> Self? {
        guard let pages = statmPages() else { return nil }
        var usage = rusage()
        getrusage(Int32(RUSAGE_SELF.rawValue), &usage)
        let cpu = Double(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) + Double(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6
        var limit = rlimit()
        let maxDescriptors = getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 && limit.rlim_cur != rlim_t.max ? Int(clamping: limit.rlim_cur) : nil
        return Self(
            cpuSeconds: cpu, residentBytes: pages.resident * pageSize, virtualBytes: pages.size * pageSize,
            openDescriptors: openDescriptors(), maxDescriptors: maxDescriptors
        )
    }

    /// The first two fields of /proc/self/statm: total and resident pages.
    private static func statmPages() -> (size: UInt64, resident: UInt64)? {
        let descriptor = open("/proc/self/statm", O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { return nil }
        defer { close(descriptor) }
        return withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 128) { buffer -> (UInt64, UInt64)? in
            guard let base = buffer.baseAddress else { return nil }
            let count = read(descriptor, base, buffer.count)
            guard count > 0 else { return nil }
            var numbers: [UInt64] = []
            var value: UInt64 = 0
            var digits = 0
            for byte in buffer.prefix(count) {
                if byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") {
                    value = value &* 10 &+ UInt64(byte - UInt8(ascii: "0"))
                    digits += 1
                } else if digits > 0 {
                    numbers.append(value)
                    if numbers.count == 2 { break }
                    (value, digits) = (0, 0)
                }
            }
            return numbers.count == 2 ? (numbers[0], numbers[1]) : nil
        }
    }

    /// Entries of /proc/self/fd, less `.`, `..` and the descriptor the listing itself holds.
    private static func openDescriptors() -> Int {
        guard let directory = opendir("/proc/self/fd") else { return 0 }
        defer { closedir(directory) }
        var count = 0
        while let entry = readdir(directory) {
            if entry.pointee.d_name.0 != CChar(UInt8(ascii: ".")) { count += 1 }
        }
        return max(count - 1, 0)
    }
}
