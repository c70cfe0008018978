import Crypto
import ExtrasBase64
import Foundation
import JWTKit

/// The configured signing key, loaded once at start-up, with jwt-kit's synchronous algorithm for sign/verify.
public struct SigningKey: Sendable {
    public let algorithm: SigningAlgorithm
    let jwt: any JWTAlgorithm
    /// The base64url JOSE header every token we issue carries (`{"alg":…,"typ":"JWT"}`).
    let headerSegment: String

    public struct LoadError: Error, CustomStringConvertible {
        public let description: String
    }

    /// Loads (or, for HS* with a missing file, creates) the key named by `tokens`.
    /// Relative paths are resolved against `directory` (the config file's folder).
    public static func load(_ tokens: TokensConfig, relativeTo directory: String = ".") async throws -> SigningKey {
        let keys = JWTKeyCollection()
        switch tokens.algorithm {
        case .hs256, .hs384, .hs512:
            let path = resolve(tokens.secretFile, in: directory)
            let secret = try loadOrCreateSecret(at: path)
            let minimum = tokens.algorithm == .hs256 ? 32 : tokens.algorithm == .hs384 ? 48 : 64
            guard secret.count >= minimum else {
                throw LoadError(description: "\(path): the secret is \(secret.count) bytes; \(tokens.algorithm.rawValue) needs at least \(minimum) (RFC 7518 §3.2)")
            }
            let digest: DigestAlgorithm = tokens.algorithm == .hs256 ? .sha256 : tokens.algorithm == .hs384 ? .sha384 : .sha512
            await keys.add(hmac: HMACKey(from: secret), digestAlgorithm: digest)
        case .es256:
            let pem = try readPEM(resolve(tokens.privateKeyFile, in: directory))
            do { await keys.add(ecdsa: try ES256PrivateKey(pem: pem)) } catch {
                throw LoadError(description: "\(tokens.privateKeyFile): not a PEM P-256 private key (\(error))")
            }
        case .rs256:
            let pem = try readPEM(resolve(tokens.privateKeyFile, in: directory))
            do { await keys.add(rsa: try Insecure.RSA.PrivateKey(pem: pem), digestAlgorithm: .sha256) } catch {
                throw LoadError(description: "\(tokens.privateKeyFile): not a PEM RSA private key of 2048 bits or more (\(error))")
            }
        case .eddsa:
            let pem = try readPEM(resolve(tokens.privateKeyFile, in: directory))
            do { await keys.add(eddsa: try EdDSA.PrivateKey(pem: pem)) } catch {
                throw LoadError(description: "\(tokens.privateKeyFile): not a PEM Ed25519 private key (\(error))")
            }
        }
        let jwt = try await keys.getKey()
        let header = #"{"alg":"\#(tokens.algorithm.rawValue)","typ":"JWT"}"#
        return SigningKey(algorithm: tokens.algorithm, jwt: jwt, headerSegment: Base64URL.encode(Array(header.utf8)))
    }

    static func resolve(_ path: String, in directory: String) -> String {
        path.hasPrefix("/") || directory == "." || directory.isEmpty ? path : directory + "/" + path
    }

    /// HS* key: the file's bytes minus one trailing newline. A missing file is created with
    /// 64 random bytes as base64url text, mode 0600 (SPEC §2).
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
        guard var bytes = fm.contents(atPath: path).map({ [UInt8]($0) }) else {
            throw LoadError(description: "\(path): cannot read the secret file")
        }
        if bytes.last == UInt8(ascii: "\n") { bytes.removeLast() }
        guard !bytes.isEmpty else { throw LoadError(description: "\(path): the secret file is empty") }
        return bytes
    }

    static func readPEM(_ path: String) throws -> String {
        guard let data = FileManager.default.contents(atPath: path), let text = String(data: data, encoding: .utf8) else {
            throw LoadError(description: "\(path): cannot read the private key file")
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
