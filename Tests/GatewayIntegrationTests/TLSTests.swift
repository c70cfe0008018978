/// docs/http.md#tls-and-http2: the public listener over TLS — 1.2 and 1.3 only, start-up errors for missing or mismatched files,
/// the files re-read on reload for new connections — with certificates each test makes with openssl.
import Foundation
import GatewayCore
import Testing

@Suite("TLS listener")
struct TLSTests {
    static func tlsConfig(_ certificate: TestCertificate) -> TestConfig {
        TestConfig.publicCatchAll.with {
            $0.server["tls_cert_file"] = TestConfig.quoted(certificate.certificateFile)
            $0.server["tls_key_file"] = TestConfig.quoted(certificate.keyFile)
        }
    }

    /// The certificate the listener presents to a new connection, as PEM (Python's ssl module).
    static func presentedCertificate(port: Int) async throws -> String {
        let outcome = try await ExternalCommand.run(["python3", "-c",
            "import ssl, sys; print(ssl.get_server_certificate(('127.0.0.1', int(sys.argv[1]))), end='')", String(port)])
        try #require(outcome.status == 0, "\(outcome.stderr)")
        return outcome.stdout
    }

    /// The base64 body of a PEM text, so two PEM spellings of one certificate compare equal.
    static func pemBody(_ pem: String) -> String {
        pem.split(separator: "\n").filter { !$0.hasPrefix("-----") }.joined()
    }

    /// openssl s_client with the given protocol flags; its exit status and what it printed.
    static func handshake(port: Int, _ flags: [String]) async throws -> ExternalCommand.Outcome {
        try await ExternalCommand.run(["openssl", "s_client", "-connect", "127.0.0.1:\(port)", "-brief"] + flags, input: "")
    }

    @Test("TLS 1.2 and 1.3 are accepted; TLS 1.1 is refused by the server (a protocol_version alert)")
    func onlyModernVersions() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let certificate = try await TestCertificate.make(in: directory.path)
        try await withUpstreamAndGateway(Self.tlsConfig(certificate)) { _, gw in
            for version in ["1.2", "1.3"] {
                let response = try await Curl.get("https://127.0.0.1:\(gw.port)/health-check/echo",
                                                  ["--cacert", certificate.certificateFile, "--tlsv\(version)", "--tls-max", version])
                #expect(response.status == 200, "TLS \(version)")
            }
            // The client is allowed TLS 1.1 (security level 0), so only the server can be what refuses it.
            let old = try await Self.handshake(port: gw.port, ["-tls1_1", "-cipher", "DEFAULT:@SECLEVEL=0"])
            #expect(old.status != 0)
            #expect((old.stdout + old.stderr).lowercased().contains("protocol version"), "\(old.stdout)\n\(old.stderr)")
        }
    }

    @Test("plaintext HTTP to a TLS listener is not answered in the clear and forwards nothing")
    func plaintextToTLSListener() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let certificate = try await TestCertificate.make(in: directory.path)
        try await withUpstreamAndGateway(Self.tlsConfig(certificate)) { upstream, gw in
            let connection = try await RawHTTPConnection.connect(port: gw.port)
            defer { connection.close() }
            try await connection.send(RequestBytes.make("GET", "/x/echo"))
            await #expect(throws: (any Error).self) { _ = try await connection.readResponse(timeout: .seconds(5)) }
            #expect(upstream.requests.isEmpty)
        }
    }

    @Test("start-up errors: a missing file, a file without a certificate, a key that is not the certificate's, one file of two")
    func startupErrors() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let certificate = try await TestCertificate.make(in: directory.path)
        let other = try await TestCertificate.make(in: directory.path, name: "other")
        func startupError(cert: String, key: String) async -> String {
            let config = TestConfig.publicCatchAll.with {
                $0.server["tls_cert_file"] = TestConfig.quoted(cert)
                $0.server["tls_key_file"] = TestConfig.quoted(key)
            }
            do {
                let gateway = try await InProcessGateway.start(config.text, ["UPSTREAM": "http://127.0.0.1:9"])
                await gateway.stop()
                return "started"
            } catch {
                return "\(error)"
            }
        }
        let missing = await startupError(cert: directory.path + "/absent.pem", key: certificate.keyFile)
        #expect(missing.contains("server.tls_cert_file") && missing.contains("does not exist"), "\(missing)")
        let notACertificate = await startupError(cert: certificate.keyFile, key: certificate.keyFile)
        #expect(notACertificate.contains("server.tls_cert_file") && notACertificate.contains("no PEM certificate"), "\(notACertificate)")
        let mismatched = await startupError(cert: certificate.certificateFile, key: other.keyFile)
        #expect(mismatched.contains("server.tls_key_file") && mismatched.contains("does not match"), "\(mismatched)")
        let missingKey = await startupError(cert: certificate.certificateFile, key: directory.path + "/absent-key.pem")
        #expect(missingKey.contains("server.tls_key_file") && missingKey.contains("does not exist"), "\(missingKey)")
        #expect(await startupError(cert: certificate.certificateFile, key: certificate.keyFile) == "started")

        let half = TestConfig.publicCatchAll.with { $0.server["tls_cert_file"] = TestConfig.quoted(certificate.certificateFile) }
        #expect {
            _ = try ConfigReader(environment: [:]).parse(half.text, file: "half.conf")
        } throws: { error in
            "\(error)".contains("server.tls_key_file") && "\(error)".contains("both")
        }
    }

    @Test("reload re-reads the files: new connections get the new certificate; a bad pair changes nothing")
    func reloadRereadsFiles() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let first = try await TestCertificate.make(in: directory.path, name: "first", commonName: "first")
        let served = TestCertificate(certificateFile: directory.path + "/served-cert.pem", keyFile: directory.path + "/served-key.pem")
        let fm = FileManager.default
        func serve(_ pair: TestCertificate) throws {
            for (from, to) in [(pair.certificateFile, served.certificateFile), (pair.keyFile, served.keyFile)] {
                try? fm.removeItem(atPath: to)
                try fm.copyItem(atPath: from, toPath: to)
            }
        }
        try serve(first)
        let config = Self.tlsConfig(served)
        try await withUpstreamAndGateway(config) { upstream, gw in
            #expect(Self.pemBody(try await Self.presentedCertificate(port: gw.port)) == Self.pemBody(try String(contentsOfFile: first.certificateFile, encoding: .utf8)))

            let second = try await TestCertificate.make(in: directory.path, name: "second", commonName: "second")
            try serve(second)
            #expect(try await gw.reload(config.text, ["UPSTREAM": upstream.baseURL]) == .reloaded)
            let afterReload = try await Self.presentedCertificate(port: gw.port)
            #expect(Self.pemBody(afterReload) == Self.pemBody(try String(contentsOfFile: second.certificateFile, encoding: .utf8)))

            // A key that is not the certificate's: the reload is refused, the listener keeps the second pair.
            let third = try await TestCertificate.make(in: directory.path, name: "third", commonName: "third")
            try? fm.removeItem(atPath: served.keyFile)
            try fm.copyItem(atPath: third.keyFile, toPath: served.keyFile)
            guard case .failed(let problems) = try await gw.reload(config.text, ["UPSTREAM": upstream.baseURL]) else {
                Issue.record("a mismatched key was reloaded")
                return
            }
            #expect(problems.contains { $0.contains("does not match") }, "\(problems)")
            #expect(Self.pemBody(try await Self.presentedCertificate(port: gw.port)) == Self.pemBody(afterReload))
        }
    }
}
