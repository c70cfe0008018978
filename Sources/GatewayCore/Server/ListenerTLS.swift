import Foundation
import NIOSSL

/// The public listener's TLS (docs/http.md#tls-and-http2): the certificate chain and key read from `server.tls_cert_file` and
/// `server.tls_key_file`, TLS 1.2 and 1.3 only, ALPN `h2` before `http/1.1` when HTTP/2 is on. Loaded at start-up
/// and at every reload (new connections get the files as they are then); any problem is a start-up error (a
/// refused reload), never a plaintext listener.
public enum ListenerTLS {
    public struct LoadError: Error, CustomStringConvertible {
        public let description: String
    }

    /// The ALPN protocols offered, in the server's order of preference.
    static func applicationProtocols(http2: Bool) -> [String] {
        http2 ? ["h2", "http/1.1"] : ["http/1.1"]
    }

    /// The server context for `server`, or nil when it has no TLS files. Relative paths resolve against
    /// `baseDirectory` (the config file's folder).
    public static func load(_ server: ServerConfig, relativeTo baseDirectory: String) throws(LoadError) -> NIOSSLContext? {
        guard server.tls else { return nil }
        let certPath = SigningKey.resolve(server.tlsCertFile, in: baseDirectory)
        let keyPath = SigningKey.resolve(server.tlsKeyFile, in: baseDirectory)
        let certBytes = try readPEM(certPath, key: "server.tls_cert_file")
        guard let chain = try? NIOSSLCertificate.fromPEMBytes(certBytes), !chain.isEmpty else {
            throw LoadError(description: "server.tls_cert_file: \(certPath) holds no PEM certificate")
        }
        let keyBytes = try readPEM(keyPath, key: "server.tls_key_file")
        guard let key = try? NIOSSLPrivateKey(bytes: keyBytes, format: .pem) else {
            throw LoadError(description: "server.tls_key_file: \(keyPath) holds no PEM private key (an encrypted key is not supported)")
        }
        var configuration = TLSConfiguration.makeServerConfiguration(certificateChain: chain.map { .certificate($0) },
                                                                      privateKey: .privateKey(key))
        configuration.minimumTLSVersion = .tlsv12
        configuration.maximumTLSVersion = .tlsv13
        configuration.applicationProtocols = applicationProtocols(http2: server.http2)
        do {
            return try NIOSSLContext(configuration: configuration)
        } catch {
            // BoringSSL refuses a key that is not the certificate's when the context takes them.
            throw LoadError(description: "server.tls_key_file: \(keyPath) does not match the certificate in \(certPath)")
        }
    }

    private static func readPEM(_ path: String, key: String) throws(LoadError) -> [UInt8] {
        guard FileManager.default.fileExists(atPath: path) else {
            throw LoadError(description: "\(key): \(path) does not exist")
        }
        guard let data = FileManager.default.contents(atPath: path) else {
            throw LoadError(description: "\(key): \(path) cannot be read")
        }
        return [UInt8](data)
    }
}
