import Foundation
import OpsConfig

/// An age X25519 recipient: a public key (`age1…`) files are encrypted to.
struct AgeRecipient: Equatable, Sendable {
    /// The X25519 public key.
    let publicKey: [UInt8]
    /// How it is written.
    let text: String

    /// Parses `age1…`; `origin` names where it came from in the error (a key path, a file line).
    init(_ text: String, origin: String) throws(BackupError) {
        do { publicKey = try Bech32.ageRecipientKey(text) } catch {
            throw BackupError("\(origin) is not an age recipient (age1…): \(error.description); copy the public key `age-keygen -y KEY_FILE` prints")
        }
        self.text = text
    }

    /// The recipients of a file: one `age1…` a line; blank lines and `#` comments are skipped.
    static func load(file path: String, key: String) throws(BackupError) -> [AgeRecipient] {
        let text: String
        do { text = try String(contentsOfFile: path, encoding: .utf8) } catch {
            throw BackupError("cannot read \(key) \(path): \(error.localizedDescription); create it with one age1… recipient a line")
        }
        var recipients: [AgeRecipient] = []
        for (index, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            if trimmed.isEmpty || trimmed.hasPrefix("#") { continue }
            recipients.append(try AgeRecipient(trimmed, origin: "\(key) \(path) line \(index + 1)"))
        }
        return recipients
    }
}

/// An age X25519 identity: the private key (`AGE-SECRET-KEY-1…`) that opens files encrypted to
/// its recipient.
struct AgeIdentity: Sendable {
    let secretKey: [UInt8]
    let publicKey: [UInt8]

    init(secretKey: [UInt8]) throws(BackupError) {
        self.secretKey = secretKey
        publicKey = try AgeCrypto.x25519PublicKey(privateKey: secretKey)
    }

    /// The identities in an identity file as `age-keygen` writes it: `AGE-SECRET-KEY-1…` lines,
    /// blank lines and `#` comments. Anything else (a passphrase-protected or SSH key) is refused
    /// with its line number.
    static func load(file path: String) throws(BackupError) -> [AgeIdentity] {
        let text: String
        do { text = try String(contentsOfFile: path, encoding: .utf8) } catch {
            throw BackupError("cannot read the identity file \(path): \(error.localizedDescription); pass the file age-keygen wrote (AGE-SECRET-KEY-1… inside)")
        }
        var identities: [AgeIdentity] = []
        for (index, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            if trimmed.isEmpty || trimmed.hasPrefix("#") { continue }
            let origin = "the identity file \(path) line \(index + 1)"
            guard trimmed.hasPrefix("AGE-SECRET-KEY-1"), let decoded = try? Bech32.decode(trimmed), decoded.hrp == "age-secret-key-", decoded.data.count == 32 else {
                throw BackupError("\(origin) is not an age X25519 identity (AGE-SECRET-KEY-1…); only keys age-keygen writes are supported")
            }
            identities.append(try AgeIdentity(secretKey: decoded.data))
        }
        guard !identities.isEmpty else { throw BackupError("the identity file \(path) holds no AGE-SECRET-KEY-1… line; pass the file age-keygen wrote") }
        return identities
    }

    /// The recipient (`age1…`) of this identity.
    var recipient: String { Bech32.encode(hrp: "age", data: publicKey) }
}

/// The age v1 file format (https://age-encryption.org/v1) for X25519 recipients: a text header
/// with one stanza per recipient wrapping a random 16-byte file key, the header's HMAC, then the
/// payload in ChaCha20-Poly1305 STREAM chunks of 64 KiB. What `age -e -r` writes and `age -d -i`
/// reads, so a backup can always be opened by hand with Debian's `age`.
enum Age {
    static let intro = "age-encryption.org/v1"
    static let chunkSize = 64 * 1024
    private static let stanzaLabel = "age-encryption.org/v1/X25519"

    /// Encrypts `plaintext` to every recipient (each can decrypt it alone).
    static func encrypt(_ plaintext: UnsafeRawBufferPointer, to recipients: [AgeRecipient]) throws(BackupError) -> [UInt8] {
        precondition(!recipients.isEmpty, "age needs at least one recipient")
        let fileKey = try AgeCrypto.random(16)
        var header = intro + "\n"
        for recipient in recipients {
            let ephemeral = try AgeCrypto.random(32)
            let share = try AgeCrypto.x25519PublicKey(privateKey: ephemeral)
            let shared = try AgeCrypto.x25519(privateKey: ephemeral, publicKey: recipient.publicKey)
            let wrapKey = try AgeCrypto.hkdf(key: shared, salt: share + recipient.publicKey, info: stanzaLabel)
            var body: [UInt8] = []
            let wrap = try ChaChaPoly(key: wrapKey)
            try fileKey.withUnsafeBytes { key in Result { () throws(BackupError) in try wrap.seal(key, nonce: [UInt8](repeating: 0, count: 12), into: &body) } }.get()
            header += "-> X25519 \(Base64.encode(share))\n" + Base64.wrapped(body)
        }
        header += "---"
        let mac = try AgeCrypto.hmacSHA256(key: try AgeCrypto.hkdf(key: fileKey, salt: [], info: "header"), data: Array(header.utf8))
        var output = Array((header + " " + Base64.encode(mac) + "\n").utf8)
        let nonce = try AgeCrypto.random(16)
        output += nonce
        let cipher = try ChaChaPoly(key: try AgeCrypto.hkdf(key: fileKey, salt: nonce, info: "payload"))
        output.reserveCapacity(output.count + plaintext.count + (plaintext.count / chunkSize + 1) * ChaChaPoly.tagSize)
        var offset = 0, counter: UInt64 = 0
        repeat {
            let end = min(offset + chunkSize, plaintext.count)
            let last = end == plaintext.count
            try cipher.seal(UnsafeRawBufferPointer(rebasing: plaintext[offset..<end]), nonce: streamNonce(counter, last: last), into: &output)
            offset = end
            counter += 1
        } while offset < plaintext.count
        return output
    }

    static func encrypt(_ plaintext: [UInt8], to recipients: [AgeRecipient]) throws(BackupError) -> [UInt8] {
        try plaintext.withUnsafeBytes { bytes in Result { () throws(BackupError) in try encrypt(bytes, to: recipients) } }.get()
    }

    /// Decrypts an age file with the first identity that opens one of its X25519 stanzas.
    /// Errors say which of these it is: not an age file, encrypted to other recipients, header
    /// altered, payload altered, or truncated.
    static func decrypt(_ file: [UInt8], with identities: [AgeIdentity]) throws(BackupError) -> [UInt8] {
        let header = try AgeHeader(file)
        var fileKey: [UInt8]?
        search: for stanza in header.stanzas where stanza.type == "X25519" {
            guard stanza.arguments.count == 1, let share = Base64.decode(stanza.arguments[0]), share.count == 32, stanza.body.count == 32 else {
                throw BackupError("the age header has a malformed X25519 stanza; the file is damaged")
            }
            for identity in identities {
                guard let shared = try? AgeCrypto.x25519(privateKey: identity.secretKey, publicKey: share) else { continue }
                let wrapKey = try AgeCrypto.hkdf(key: shared, salt: share + identity.publicKey, info: stanzaLabel)
                let cipher = try ChaChaPoly(key: wrapKey)
                var key: [UInt8] = []
                let opened = stanza.body.withUnsafeBytes { cipher.open($0, nonce: [UInt8](repeating: 0, count: 12), into: &key) }
                if opened, key.count == 16 { fileKey = key; break search }
            }
        }
        guard let fileKey else {
            let types = Set(header.stanzas.map(\.type)).sorted().joined(separator: ", ")
            throw BackupError("no identity given opens this age file: it is encrypted to other recipients (\(header.stanzas.count) stanza\(header.stanzas.count == 1 ? "" : "s"): \(types)); pass the key of one of backup.encrypt's recipients")
        }
        let mac = try AgeCrypto.hmacSHA256(key: try AgeCrypto.hkdf(key: fileKey, salt: [], info: "header"), data: Array(file[..<header.macInputEnd]))
        guard AgeCrypto.equalMACs(mac, header.mac) else { throw BackupError("the age header's MAC does not match: the header was altered") }
        let payloadStart = header.payloadStart
        guard file.count >= payloadStart + 16 else { throw BackupError("the age file is truncated: it ends before its payload nonce") }
        let nonce = Array(file[payloadStart..<payloadStart + 16])
        let cipher = try ChaChaPoly(key: try AgeCrypto.hkdf(key: fileKey, salt: nonce, info: "payload"))
        let sealedChunk = chunkSize + ChaChaPoly.tagSize
        var output: [UInt8] = []
        output.reserveCapacity(max(0, file.count - payloadStart))
        return try file.withUnsafeBytes { bytes in Result { () throws(BackupError) -> [UInt8] in
            var offset = payloadStart + 16, counter: UInt64 = 0
            while true {
                let remaining = bytes.count - offset
                guard remaining >= ChaChaPoly.tagSize else {
                    throw BackupError(counter == 0 ? "the age file is truncated: it has no payload" : "the age file is truncated after \(counter) chunk\(counter == 1 ? "" : "s") of 64 KiB")
                }
                let last = remaining <= sealedChunk
                let chunk = UnsafeRawBufferPointer(rebasing: bytes[offset..<offset + min(remaining, sealedChunk)])
                if cipher.open(chunk, nonce: streamNonce(counter, last: last), into: &output) {
                    if last, chunk.count == ChaChaPoly.tagSize, counter > 0 {
                        throw BackupError("the age file ends with an empty chunk, which age never writes; the file is damaged")
                    }
                    if last { return output }
                } else if last, remaining == sealedChunk, cipher.open(chunk, nonce: streamNonce(counter, last: false), into: &output) {
                    throw BackupError("the age file is truncated after \(counter + 1) chunks of 64 KiB (its last chunk is missing)")
                } else {
                    throw BackupError("the age payload's chunk \(counter) failed authentication: the file was altered or damaged")
                }
                offset += sealedChunk
                counter += 1
            }
        } }.get()
    }

    /// STREAM's nonce: an 11-byte big-endian counter and a last-chunk flag.
    private static func streamNonce(_ counter: UInt64, last: Bool) -> [UInt8] {
        var nonce = [UInt8](repeating: 0, count: 12)
        for index in 0..<8 { nonce[3 + index] = UInt8(truncatingIfNeeded: counter >> (8 * (7 - index))) }
        nonce[11] = last ? 1 : 0
        return nonce
    }

    /// True when `bytes` start like an age file.
    static func looksEncrypted(_ bytes: [UInt8]) -> Bool {
        bytes.starts(with: Array((intro + "\n").utf8))
    }
}

/// The parsed text header of an age file.
struct AgeHeader {
    struct Stanza {
        var type: String
        var arguments: [String]
        var body: [UInt8]
    }

    var stanzas: [Stanza] = []
    var mac: [UInt8] = []
    /// Where the bytes the MAC covers end (just after `---`).
    var macInputEnd = 0
    /// Where the payload (nonce, then chunks) starts.
    var payloadStart = 0

    init(_ file: [UInt8]) throws(BackupError) {
        var offset = 0
        func line() throws(BackupError) -> String {
            guard let end = file[offset...].firstIndex(of: 0x0A) else { throw BackupError("the age file is truncated inside its header") }
            let text = String(decoding: file[offset..<end], as: UTF8.self)
            offset = end + 1
            return text
        }
        guard Age.looksEncrypted(file) else { throw BackupError("not an age file: it does not start with \"\(Age.intro)\"") }
        _ = try line()
        var next = try line()
        while next.hasPrefix("-> ") {
            let parts = next.dropFirst(3).split(separator: " ", omittingEmptySubsequences: false).map(String.init)
            guard let type = parts.first, !type.isEmpty, parts.allSatisfy({ !$0.isEmpty }) else { throw BackupError("the age header has a malformed stanza line; the file is damaged") }
            var body: [UInt8] = []
            while true {
                let bodyLine = try line()
                guard bodyLine.count <= 64, let decoded = Base64.decode(bodyLine) else { throw BackupError("the age header has a malformed stanza body; the file is damaged") }
                body += decoded
                if bodyLine.count < 64 { break }
            }
            stanzas.append(Stanza(type: type, arguments: Array(parts.dropFirst()), body: body))
            next = try line()
        }
        guard next.hasPrefix("--- "), let mac = Base64.decode(String(next.dropFirst(4))), mac.count == 32 else {
            throw BackupError("the age header does not end with a \"--- MAC\" line; the file is damaged")
        }
        guard !stanzas.isEmpty else { throw BackupError("the age header has no recipient stanza; the file is damaged") }
        self.mac = mac
        payloadStart = offset
        macInputEnd = offset - 1 - next.utf8.count + 3
    }
}

/// Base64 as age writes it: the standard alphabet without padding, canonical only (Foundation
/// does the coding; this adds and checks the padding age leaves out).
enum Base64 {
    static func encode(_ bytes: [UInt8]) -> String {
        var text = Data(bytes).base64EncodedString()
        while text.hasSuffix("=") { text.removeLast() }
        return text
    }

    /// A stanza body: lines of 64 columns, the last one shorter (empty when the body fills them).
    static func wrapped(_ bytes: [UInt8]) -> String {
        let text = encode(bytes)
        var lines: [Substring] = []
        var rest = Substring(text)
        while rest.count >= 64 { lines.append(rest.prefix(64)); rest = rest.dropFirst(64) }
        lines.append(rest)
        return lines.map { $0 + "\n" }.joined()
    }

    /// Decodes unpadded, canonical base64; nil for anything else.
    static func decode(_ text: String) -> [UInt8]? {
        guard !text.contains("="), text.count % 4 != 1 else { return nil }
        let padded = text + String(repeating: "=", count: (4 - text.count % 4) % 4)
        guard let data = Data(base64Encoded: padded) else { return nil }
        let bytes = [UInt8](data)
        return encode(bytes) == text ? bytes : nil
    }
}
