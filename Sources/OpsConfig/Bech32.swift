/// Bech32 (BIP 173), the text encoding of age's keys: `age1…` recipients and
/// `AGE-SECRET-KEY-1…` identities. An encoding, not cryptography; it lives here so the config
/// parser can check a recipient where it is written, and the backup code encode and decode keys.
///
/// age uses plain Bech32 (not Bech32m) without BIP 173's 90-character limit.
public enum Bech32 {
    private static let alphabet = Array("qpzry9x8gf2tvdw0s3jn54khce6mua7l".utf8)
    private static let generator: [UInt32] = [0x3b6a_57b2, 0x2650_8e6d, 0x1ea1_19fa, 0x3d42_33dd, 0x2a14_62b3]

    /// Why a text is not Bech32, as the end of a sentence.
    public struct DecodeError: Error, Equatable, CustomStringConvertible {
        /// What is wrong.
        public var description: String
    }

    /// Encodes `data` (8-bit bytes) under the human-readable part `hrp`, in lower case (call
    /// `uppercased()` for identities, which age writes in upper case).
    public static func encode(hrp: String, data: [UInt8]) -> String {
        let hrpBytes = Array(hrp.lowercased().utf8)
        let values = regroup(data, from: 8, to: 5, pad: true) ?? []
        let checksum = checksum(hrp: hrpBytes, values: values)
        let chars = (values + checksum).map { alphabet[Int($0)] }
        return String(decoding: hrpBytes + [UInt8(ascii: "1")] + chars, as: UTF8.self)
    }

    /// Decodes a Bech32 string into its human-readable part (lower case) and its bytes.
    /// Mixed case, a bad character, a wrong checksum or leftover bits are errors.
    public static func decode(_ text: String) throws(DecodeError) -> (hrp: String, data: [UInt8]) {
        let bytes = Array(text.utf8)
        guard bytes.allSatisfy({ $0 >= 33 && $0 <= 126 }) else { throw DecodeError(description: "it has characters Bech32 does not use") }
        let lower = text.lowercased(), upper = text.uppercased()
        guard text == lower || text == upper else { throw DecodeError(description: "it mixes upper and lower case") }
        let chars = Array(lower.utf8)
        guard let separator = chars.lastIndex(of: UInt8(ascii: "1")), separator >= 1, chars.count - separator - 1 >= 6 else {
            throw DecodeError(description: "it has no '1' separator followed by data and a checksum")
        }
        let hrp = Array(chars[..<separator])
        var values: [UInt8] = []
        for char in chars[(separator + 1)...] {
            guard let value = alphabet.firstIndex(of: char) else { throw DecodeError(description: "'\(Character(Unicode.Scalar(char)))' is not a Bech32 character") }
            values.append(UInt8(value))
        }
        guard polymod(expand(hrp) + values) == 1 else { throw DecodeError(description: "its checksum does not match (a typo, or a truncated key)") }
        guard let data = regroup(Array(values.dropLast(6)), from: 5, to: 8, pad: false) else {
            throw DecodeError(description: "its data does not decode to whole bytes")
        }
        return (String(decoding: hrp, as: UTF8.self), data)
    }

    /// Checks an age recipient (`age1…`, 32 bytes of X25519 public key); returns the key.
    public static func ageRecipientKey(_ text: String) throws(DecodeError) -> [UInt8] {
        let (hrp, data) = try decode(text)
        guard hrp == "age" else { throw DecodeError(description: "it starts with \"\(hrp)1\", not \"age1\"") }
        guard text == text.lowercased() else { throw DecodeError(description: "age recipients are written in lower case") }
        guard data.count == 32 else { throw DecodeError(description: "it holds \(data.count) bytes, not an X25519 key's 32") }
        return data
    }

    private static func polymod(_ values: [UInt8]) -> UInt32 {
        var check: UInt32 = 1
        for value in values {
            let top = check >> 25
            check = (check & 0x1ff_ffff) << 5 ^ UInt32(value)
            for index in 0..<5 where (top >> index) & 1 == 1 { check ^= generator[index] }
        }
        return check
    }

    private static func expand(_ hrp: [UInt8]) -> [UInt8] {
        hrp.map { $0 >> 5 } + [0] + hrp.map { $0 & 31 }
    }

    private static func checksum(hrp: [UInt8], values: [UInt8]) -> [UInt8] {
        let mod = polymod(expand(hrp) + values + [0, 0, 0, 0, 0, 0]) ^ 1
        return (0..<6).map { UInt8((mod >> (5 * (5 - $0))) & 31) }
    }

    /// Regroups bits (8 → 5 to encode, 5 → 8 to decode); nil when decoding leaves non-zero or
    /// too many padding bits.
    private static func regroup(_ input: [UInt8], from: Int, to: Int, pad: Bool) -> [UInt8]? {
        var accumulator = 0, bits = 0
        var output: [UInt8] = []
        let maximum = (1 << to) - 1
        for value in input {
            accumulator = (accumulator << from) | Int(value)
            bits += from
            while bits >= to {
                bits -= to
                output.append(UInt8((accumulator >> bits) & maximum))
            }
        }
        if pad {
            if bits > 0 { output.append(UInt8((accumulator << (to - bits)) & maximum)) }
        } else if bits >= from || (accumulator << (to - bits)) & maximum != 0 {
            return nil
        }
        return output
    }
}
