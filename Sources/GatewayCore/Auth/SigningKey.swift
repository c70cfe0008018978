import Crypto
import ExtrasBase64
import Foundation
import JWTKit

/// The configured keys, loaded once at start-up (docs/operations.md#keys-kid-rotation-and-jwks): the current key signs every token; it and the
/// retired (`previous_*`) keys verify, picked by the token's `kid`. Each key's algorithm is jwt-kit's, used
/// synchronously.
public struct SigningKey: Sendable {
    public let algorithm: SigningAlgorithm
    /// The current key first, then the previous ones in the config's order.
    let keys: [VerificationKey]
    private let indexByKID: [String: Int]

    /// The key that signs.
    var current: VerificationKey { keys[0] }
    /// The base64url JOSE header every token we issue carries (`{"alg":…,"kid":…,"typ":"JWT"}`).
    var headerSegment: String { current.headerSegment }

    public struct LoadError: Error, CustomStringConvertible {
        public let description: String
    }

    init(algorithm: SigningAlgorithm, keys: [VerificationKey]) throws(LoadError) {
        var index: [String: Int] = [:]
        for (i, key) in keys.enumerated() {
            // The same key listed twice would be harmless, but it is a mistake worth a word: say which.
            guard index[key.kid] == nil else { throw LoadError(description: "\(key.source): the same key as \(keys[index[key.kid]!].source) (kid \(key.kid))") }
            index[key.kid] = i
        }
        self.algorithm = algorithm
        self.keys = keys
        self.indexByKID = index
    }

    /// The key a token names by `kid`; nil when none of ours has it.
    func key(kid: String) -> VerificationKey? {
        indexByKID[kid].map { keys[$0] }
    }

    /// `{"keys": [...]}` with the public JWKs, current first; nil for HS* (a secret is never published).
    public var jwks: String? {
        guard !algorithm.isHMAC else { return nil }
        return #"{"keys":["# + keys.compactMap(\.publicJWK).joined(separator: ",") + "]}"
    }

    /// Loads the current key (for HS* with a missing file, creates it) and the previous ones named by `tokens`.
    /// Relative paths are resolved against `directory` (the config file's folder).
    public static func load(_ tokens: TokensConfig, relativeTo directory: String = ".") async throws -> SigningKey {
        let algorithm = tokens.algorithm
        var keys: [VerificationKey] = []
        if algorithm.isHMAC {
            let path = resolve(tokens.secretFile, in: directory)
            keys.append(try await VerificationKey.hmac(try loadOrCreateSecret(at: path), algorithm: algorithm, source: path))
            for file in tokens.previousSecretFiles {
                let path = resolve(file, in: directory)
                keys.append(try await VerificationKey.hmac(try readSecret(at: path), algorithm: algorithm, source: path))
            }
        } else {
            let path = resolve(tokens.privateKeyFile, in: directory)
            keys.append(try await VerificationKey.asymmetric(pem: try readPEM(path), algorithm: algorithm, source: path, mustBePrivate: true))
            for file in tokens.previousKeyFiles {
                let path = resolve(file, in: directory)
                keys.append(try await VerificationKey.asymmetric(pem: try readPEM(path), algorithm: algorithm, source: path, mustBePrivate: false))
            }
        }
        return try SigningKey(algorithm: algorithm, keys: keys)
    }

    static func resolve(_ path: String, in directory: String) -> String {
        path.hasPrefix("/") || directory == "." || directory.isEmpty ? path : directory + "/" + path
    }

    /// HS* key: the file's bytes minus one trailing newline. A missing file is created with
    /// 64 random bytes as base64url text, mode 0600 (docs/configuration.md).
    static func loadOrCreateSecret(at path: String) throws -> [UInt8] {
        let fm = FileManager.default
        if !fm.fileExists(atPath: path) {
            let directory = (path as NSString).deletingLastPathComponent
            if !directory.isEmpty {
                try? fm.createDirectory(atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
            }
            var random = SystemRandomNumberGenerator()
            let bytes = (0..<64).map { _ in UInt8.random(in: .min ... .max, using: &random) }
            let text = Base64URL.encode(bytes) + "\n"
            let fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0o600)
            if fd >= 0 {
                let written = text.utf8CString.withUnsafeBufferPointer { write(fd, $0.baseAddress, $0.count - 1) }
                fsync(fd)
                close(fd)
                guard written == text.utf8.count else { throw LoadError(description: "\(path): cannot write the new secret") }
            } else if errno != EEXIST {
                throw LoadError(description: "\(path): cannot create the secret file (\(String(cString: strerror(errno))))")
            }
        }
        return try readSecret(at: path)
    }

    /// An HS* key file's bytes minus one trailing newline; never created (a retired secret must exist).
    static func readSecret(at path: String) throws -> [UInt8] {
        guard var bytes = FileManager.default.contents(atPath: path).map({ [UInt8]($0) }) else {
            throw LoadError(description: "\(path): cannot read the secret file")
        }
        if bytes.last == UInt8(ascii: "\n") { bytes.removeLast() }
        guard !bytes.isEmpty else { throw LoadError(description: "\(path): the secret file is empty") }
        return bytes
    }

    static func readPEM(_ path: String) throws -> String {
        guard let data = FileManager.default.contents(atPath: path), let text = String(data: data, encoding: .utf8) else {
            throw LoadError(description: "\(path): cannot read the key file")
        }
        return text
    }
}

/// Base64url without padding (RFC 7515 §2), through swift-extras-base64.
enum Base64URL {
    static func encode(_ bytes: some Collection<UInt8>) -> String {
        Base64.encodeToString(bytes: bytes, options: [.base64UrlAlphabet, .omitPaddingCharacter])
    }

    static func decode(_ bytes: some Collection<UInt8>) -> [UInt8]? {
        try? Base64.decode(bytes: bytes, options: [.base64UrlAlphabet, .omitPaddingCharacter])
    }
}
