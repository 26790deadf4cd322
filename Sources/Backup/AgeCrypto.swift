import CCrypto
import Foundation

/// The primitives age v1 is made of, each one call into OpenSSL's libcrypto (already in the
/// process for hashing and libgit2's SSH transport). Nothing here is hand-written cryptography:
/// these functions only move bytes in and out of libcrypto.
enum AgeCrypto {
    /// `count` bytes from OpenSSL's CSPRNG.
    static func random(_ count: Int) throws(BackupError) -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: count)
        guard RAND_bytes(&bytes, Int32(count)) == 1 else { throw BackupError("cannot get random bytes from OpenSSL") }
        return bytes
    }

    /// The X25519 public key of a 32-byte private key.
    static func x25519PublicKey(privateKey: [UInt8]) throws(BackupError) -> [UInt8] {
        let key = try privateKeyObject(privateKey)
        defer { EVP_PKEY_free(key) }
        var length = 32
        var output = [UInt8](repeating: 0, count: 32)
        guard EVP_PKEY_get_raw_public_key(key, &output, &length) == 1, length == 32 else { throw BackupError("cannot derive an X25519 public key") }
        return output
    }

    /// X25519(privateKey, publicKey): the shared secret. An all-zero result (a low-order point)
    /// is refused, as age requires.
    static func x25519(privateKey: [UInt8], publicKey: [UInt8]) throws(BackupError) -> [UInt8] {
        let key = try privateKeyObject(privateKey)
        defer { EVP_PKEY_free(key) }
        guard publicKey.count == 32, let peer = EVP_PKEY_new_raw_public_key(EVP_PKEY_X25519, nil, publicKey, 32) else {
            throw BackupError("not an X25519 public key")
        }
        defer { EVP_PKEY_free(peer) }
        guard let context = EVP_PKEY_CTX_new(key, nil) else { throw BackupError("cannot set up X25519") }
        defer { EVP_PKEY_CTX_free(context) }
        var length = 32
        var shared = [UInt8](repeating: 0, count: 32)
        guard EVP_PKEY_derive_init(context) == 1, EVP_PKEY_derive_set_peer(context, peer) == 1,
              EVP_PKEY_derive(context, &shared, &length) == 1, length == 32 else {
            throw BackupError("X25519 failed (a malformed or low-order public key)")
        }
        guard shared.contains(where: { $0 != 0 }) else { throw BackupError("X25519 gave an all-zero secret (a low-order public key)") }
        return shared
    }

    private static func privateKeyObject(_ privateKey: [UInt8]) throws(BackupError) -> OpaquePointer {
        guard privateKey.count == 32, let key = EVP_PKEY_new_raw_private_key(EVP_PKEY_X25519, nil, privateKey, 32) else {
            throw BackupError("not an X25519 private key")
        }
        return key
    }

    /// HKDF-SHA-256 (RFC 5869), `length` bytes.
    static func hkdf(key: [UInt8], salt: [UInt8], info: String, length: Int = 32) throws(BackupError) -> [UInt8] {
        guard let context = EVP_PKEY_CTX_new_id(EVP_PKEY_HKDF, nil) else { throw BackupError("cannot set up HKDF") }
        defer { EVP_PKEY_CTX_free(context) }
        let info = Array(info.utf8)
        var output = [UInt8](repeating: 0, count: length)
        var outputLength = length
        guard EVP_PKEY_derive_init(context) == 1, EVP_PKEY_CTX_set_hkdf_md(context, EVP_sha256()) == 1,
              salt.isEmpty || EVP_PKEY_CTX_set1_hkdf_salt(context, salt, Int32(salt.count)) == 1,
              EVP_PKEY_CTX_set1_hkdf_key(context, key, Int32(key.count)) == 1,
              EVP_PKEY_CTX_add1_hkdf_info(context, info, Int32(info.count)) == 1,
              EVP_PKEY_derive(context, &output, &outputLength) == 1, outputLength == length else {
            throw BackupError("HKDF-SHA-256 failed")
        }
        return output
    }

    /// HMAC-SHA-256 of `data` under `key`.
    static func hmacSHA256(key: [UInt8], data: [UInt8]) throws(BackupError) -> [UInt8] {
        var output = [UInt8](repeating: 0, count: 32)
        var length: UInt32 = 32
        guard HMAC(EVP_sha256(), key, Int32(key.count), data, data.count, &output, &length) != nil, length == 32 else {
            throw BackupError("HMAC-SHA-256 failed")
        }
        return output
    }

    /// Compares two MACs in constant time.
    static func equalMACs(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        a.count == b.count && CRYPTO_memcmp(a, b, a.count) == 0
    }
}

/// ChaCha20-Poly1305 (RFC 8439) through one reusable OpenSSL context: a file's thousands of
/// 64 KiB chunks each set a new nonce on it instead of allocating a context each.
final class ChaChaPoly {
    static let tagSize = 16
    private let context: OpaquePointer
    private let key: [UInt8]

    init(key: [UInt8]) throws(BackupError) {
        guard key.count == 32, let context = EVP_CIPHER_CTX_new() else { throw BackupError("cannot set up ChaCha20-Poly1305") }
        self.context = context
        self.key = key
    }

    deinit { EVP_CIPHER_CTX_free(context) }

    /// Appends the encryption of `plaintext` and its 16-byte tag to `output`.
    func seal(_ plaintext: UnsafeRawBufferPointer, nonce: [UInt8], into output: inout [UInt8]) throws(BackupError) {
        let start = output.count
        // One memset and one copy (stdlib's, optimised in debug builds too), not a loop per byte.
        output.append(contentsOf: [UInt8](repeating: 0, count: plaintext.count + Self.tagSize))
        let ok: Bool = output.withUnsafeMutableBufferPointer { buffer in
            guard let base = buffer.baseAddress else { return false }
            let out = base + start
            var written: Int32 = 0, final: Int32 = 0
            guard EVP_EncryptInit_ex(context, EVP_chacha20_poly1305(), nil, key, nonce) == 1 else { return false }
            if plaintext.count > 0 {
                guard EVP_EncryptUpdate(context, out, &written, plaintext.baseAddress?.assumingMemoryBound(to: UInt8.self), Int32(plaintext.count)) == 1 else { return false }
            }
            guard EVP_EncryptFinal_ex(context, out + Int(written), &final) == 1, Int(written + final) == plaintext.count else { return false }
            return EVP_CIPHER_CTX_ctrl(context, EVP_CTRL_AEAD_GET_TAG, Int32(Self.tagSize), out + plaintext.count) == 1
        }
        guard ok else { throw BackupError("ChaCha20-Poly1305 encryption failed") }
    }

    /// Appends the decryption of `sealed` (ciphertext then tag) to `output`; false when the tag
    /// does not match (the bytes were altered, or this is the wrong key or nonce), leaving
    /// `output` as it was.
    func open(_ sealed: UnsafeRawBufferPointer, nonce: [UInt8], into output: inout [UInt8]) -> Bool {
        guard sealed.count >= Self.tagSize, let sealedBase = sealed.baseAddress?.assumingMemoryBound(to: UInt8.self) else { return false }
        let length = sealed.count - Self.tagSize
        let start = output.count
        output.append(contentsOf: [UInt8](repeating: 0, count: length))
        let ok: Bool = output.withUnsafeMutableBufferPointer { buffer in
            guard let base = buffer.baseAddress else { return false }
            let out = base + start
            var written: Int32 = 0, final: Int32 = 0
            guard EVP_DecryptInit_ex(context, EVP_chacha20_poly1305(), nil, key, nonce) == 1 else { return false }
            if length > 0 {
                guard EVP_DecryptUpdate(context, out, &written, sealedBase, Int32(length)) == 1 else { return false }
            }
            let tag = UnsafeMutableRawPointer(mutating: sealedBase + length)
            guard EVP_CIPHER_CTX_ctrl(context, EVP_CTRL_AEAD_SET_TAG, Int32(Self.tagSize), tag) == 1 else { return false }
            return EVP_DecryptFinal_ex(context, out + Int(written), &final) == 1
        }
        if !ok { output.removeSubrange(start...) }
        return ok
    }
}
