import CCrypto
import Foundation

/// SHA-256 (or, for git object ids and pack checksums, SHA-1) over a stream of bytes, through
/// OpenSSL's libcrypto.
///
/// libcrypto is already in the process (libgit2's SSH transport links it), uses SHA-NI where the
/// CPU has it, and runs at full speed in debug builds too, where a Swift implementation would not.
final class SHA256Hasher {
    private let context: OpaquePointer

    /// The digests this hasher computes.
    enum Algorithm {
        case sha256
        /// Git's object ids and pack checksums.
        case sha1
    }

    init(algorithm: Algorithm = .sha256) {
        // EVP_MD_CTX_new fails only when out of memory; crash loudly rather than hash nothing.
        guard let context = EVP_MD_CTX_new() else { fatalError("EVP_MD_CTX_new: out of memory") }
        self.context = context
        EVP_DigestInit_ex(context, algorithm == .sha1 ? EVP_sha1() : EVP_sha256(), nil)
    }

    deinit { EVP_MD_CTX_free(context) }

    func update(_ bytes: UnsafeRawBufferPointer) {
        guard let base = bytes.baseAddress, bytes.count > 0 else { return }
        EVP_DigestUpdate(context, base, bytes.count)
    }

    func update(_ bytes: [UInt8]) { bytes.withUnsafeBytes { update($0) } }

    /// The digest as lowercase hex digits (64 for SHA-256).
    func finalHex() -> String { hex(finalBytes()) }

    /// The digest's bytes (32 for SHA-256, 20 for SHA-1).
    func finalBytes() -> [UInt8] {
        var digest = [UInt8](repeating: 0, count: Int(EVP_MAX_MD_SIZE))
        var length: UInt32 = 0
        EVP_DigestFinal_ex(context, &digest, &length)
        return Array(digest.prefix(Int(length)))
    }

    /// The SHA-256 of a whole file, read in 1 MiB blocks; `progress` hears the bytes read so far.
    static func file(_ path: String, progress: ((Int) -> Void)? = nil) throws(BackupError) -> String {
        let hasher = SHA256Hasher()
        let file = try ReadableFile(path)
        var buffer = [UInt8](repeating: 0, count: 1 << 20)
        var read = 0
        while true {
            let count = try file.read(into: &buffer, at: nil)
            if count == 0 { break }
            buffer.withUnsafeBytes { hasher.update(UnsafeRawBufferPointer(rebasing: $0[0..<count])) }
            read += count
            progress?(read)
        }
        return hasher.finalHex()
    }
}

/// HMAC-SHA1, for the hashed host names of a known_hosts file (`|1|salt|hash`).
func hmacSHA1(key: [UInt8], message: [UInt8]) -> [UInt8] {
    var output = [UInt8](repeating: 0, count: 20)
    var length: UInt32 = 0
    _ = HMAC(EVP_sha1(), key, Int32(key.count), message, message.count, &output, &length)
    return Array(output.prefix(Int(length)))
}

/// Lowercase hex digits of `bytes`.
func hex(_ bytes: some Sequence<UInt8>) -> String {
    let digits = Array("0123456789abcdef".utf8)
    var out = [UInt8]()
    for byte in bytes {
        out.append(digits[Int(byte >> 4)])
        out.append(digits[Int(byte & 0xf)])
    }
    return String(decoding: out, as: UTF8.self)
}
