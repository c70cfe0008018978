/// https targets through libcurl's TLS (issue 2 §5), with a private CA trusted via CURL_CA_BUNDLE.
import Foundation
import Testing

@Suite("https upstream targets")
struct HTTPSUpstreamTests {
    /// A self-signed certificate for 127.0.0.1/localhost, made with openssl, and a Python TLS server using it.
    /// Nothing here blocks a cooperative thread: processes are awaited, not waited on.
    final class TLSUpstream: Sendable {
        let directory: TemporaryDirectory
        let process: Process
        let port: Int

        private init(directory: TemporaryDirectory, process: Process, port: Int) {
            self.directory = directory
            self.process = process
            self.port = port
        }

        static func start() async throws -> TLSUpstream {
            let directory = try TemporaryDirectory()
            _ = try await TestCertificate.make(in: directory.path, name: "upstream", keyType: "rsa:2048")
            let port = try closedPort()
            let script = """
                import http.server, ssl, sys
                class H(http.server.BaseHTTPRequestHandler):
                    protocol_version = "HTTP/1.1"
                    def log_message(self, *a): pass
                    def do_GET(self):
                        body = ("tls:" + self.path).encode()
                        self.send_response(200); self.send_header("Content-Length", str(len(body))); self.end_headers()
                        self.wfile.write(body)
                server = http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), H)
                context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
                context.load_cert_chain(sys.argv[2] + "/upstream-cert.pem", sys.argv[2] + "/upstream-key.pem")
                server.socket = context.wrap_socket(server.socket, server_side=True, do_handshake_on_connect=False)
                print("ready", flush=True)
                server.serve_forever()
                """
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            process.arguments = ["python3", "-c", script, String(port), directory.path]
            let out = Pipe()
            process.standardOutput = out
            process.standardError = FileHandle.nullDevice
            try process.run()
            // "ready" is printed once the listening socket exists.
            let ready: Bool = await withCheckedContinuation { continuation in
                out.fileHandleForReading.readabilityHandler = { handle in
                    handle.readabilityHandler = nil
                    continuation.resume(returning: !handle.availableData.isEmpty)
                }
            }
            try #require(ready, "the TLS upstream did not start")
            return TLSUpstream(directory: directory, process: process, port: port)
        }

        var caFile: String { directory.path + "/upstream-cert.pem" }

        func stop() {
            // SIGKILL, not terminate(): children of the test runner inherit its blocked signal mask, so a SIGTERM
            // stays pending for ever and the server outlived every test run.
            kill(process.processIdentifier, SIGKILL)
            directory.remove()
        }
    }

    static func config(target: String) -> TestConfig {
        var config = TestConfig()
        config.tokens = ["secret_file": #""${TMP}/secret.key""#]
        config.store = ["url": #""sqlite:${TMP}/gateway.db""#]
        config.upstreams = [.init("tls", targets: [target], ["connect_timeout": #""2s""#])]
        config.routes = [.init("/", upstream: "tls", auth: "public")]
        return config
    }

    @Test func httpsTargetIsReachedWhenItsCAIsTrusted() async throws {
        let upstream = try await TLSUpstream.start()
        defer { upstream.stop() }
        let gateway = try GatewayProcess.launch(["serve", "--config", "${CONFIG}"],
                                                config: Self.config(target: "https://localhost:\(upstream.port)").text,
                                                environment: ["CURL_CA_BUNDLE": upstream.caFile])
        defer { gateway.cleanUp() }
        let port = try await gateway.waitUntilListening()
        let response = try await HTTPTestClient.get("/over/tls?x=1", port: port)
        #expect(response.status == 200)
        #expect(response.bodyText == "tls:/over/tls?x=1")
    }

    @Test func untrustedCertificateIs502() async throws {
        let upstream = try await TLSUpstream.start()
        defer { upstream.stop() }
        let gateway = try GatewayProcess.launch(["serve", "--config", "${CONFIG}"],
                                                config: Self.config(target: "https://localhost:\(upstream.port)").text,
                                                environment: ["CURL_CA_BUNDLE": "", "SSL_CERT_FILE": ""])
        defer { gateway.cleanUp() }
        let port = try await gateway.waitUntilListening()
        let response = try await HTTPTestClient.get("/over/tls", port: port)
        #expect(response.status == 502)
        #expect(response.errorCode == "upstream_unavailable")
    }
}
