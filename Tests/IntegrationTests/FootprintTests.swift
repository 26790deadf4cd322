import Foundation
import Testing
import TestSupport

/// What opsd must not carry. Each of these once cost the daemon megabytes of memory for as long
/// as it ran (docs/performance-notes.md): full Foundation with ICU (through Yams, AsyncHTTPClient
/// and time zones), libgit2 with its TLS and SSH libraries (backups run in the companion), and
/// AsyncHTTPClient's stack. A dependency that brings one back fails here, not in a benchmark.
@Suite("opsd's footprint")
struct FootprintTests {
    /// The shared libraries `binary` loads at start (readelf's NEEDED entries).
    static func neededLibraries(_ binary: String) async throws -> [String] {
        let dynamic = try await run("/usr/bin/readelf", ["--dynamic", "--wide", binary])
        try #require(dynamic.status == 0, "\(dynamic.stderr)")
        let needed = dynamic.stdout.split(separator: "\n").filter { $0.contains("(NEEDED)") }.compactMap { $0.split(separator: "[").last?.dropLast() }.map(String.init)
        try #require(needed.contains { $0.hasPrefix("libc.so") }, "readelf listed no libraries: \(dynamic.stdout)")
        return needed
    }

    @Test("opsctl, started for every status and health call, loads neither libgit2 nor libsystemd (0.6 ms a start)")
    func leanControl() async throws {
        let needed = try await Self.neededLibraries("\(binDirectory)/opsctl")
        #expect(needed.filter { $0.hasPrefix("libgit2") || $0.hasPrefix("libsystemd") || $0.hasPrefix("libFoundation.so") } == [], "opsctl needs \(needed)")
    }

    @Test("opsd loads neither libgit2, OpenSSL nor full Foundation, and has no symbol of Foundation, Yams or AsyncHTTPClient")
    func leanDaemon() async throws {
        let binary = "\(binDirectory)/opsd"
        let needed = try await Self.neededLibraries(binary)
        let forbidden = ["libgit2", "libssl", "libcrypto", "libssh2", "libFoundation.so", "libFoundationInternationalization", "lib_FoundationICU", "libcurl"]
        #expect(needed.filter { library in forbidden.contains { library.hasPrefix($0) } } == [], "opsd needs \(needed)")

        // Static builds (make release) carry the Swift libraries inside; their symbols tell. grep
        // filters nm's 100 MB of output: parsing it here, in a debug build, took long enough to
        // starve the tests running beside this one.
        let modules = ["10Foundation", "26FoundationInternationalization", "14_FoundationICU", "4Yams", "15AsyncHTTPClient"]
        let pattern = " [$]s(" + modules.joined(separator: "|") + ")"
        let symbols = try await run("/bin/sh", ["-c", "nm --defined-only \"$0\" | grep -E -m 5 \"$1\"; exit 0", binary, pattern])
        try #require(symbols.status == 0, "\(symbols.stderr)")
        #expect(symbols.stdout.isEmpty, "opsd has symbols of modules it must not carry:\n\(symbols.stdout)")
    }
}
