/// The Django REST framework API of Tests/django_upstream (djangorestframework-simplejwt's JWTAuthentication)
/// run as a child process on an ephemeral port, and the requests it says it received.
import Foundation
import GatewayCore
import Glibc

final class DjangoUpstream: Sendable {
    /// What simplejwt is configured with; it must match the gateway's `[tokens]`.
    struct Settings: Sendable {
        var algorithm: String
        /// HS*: the gateway's secret file; ES256/RS256: the public key as PEM.
        var keyFile: String
        var issuer: String
        var audience: String
        var userIdClaim: String
    }

    /// A request as Django's middleware recorded it, before its response left.
    struct Received: Sendable, Equatable {
        var method: String
        var path: String
        var authorization: String?
        var status: Int
    }

    let port: Int
    private let process: Process
    /// Our end of the server's standard input: serve.py exits when it reaches EOF, so a test that dies takes it along.
    private let input: FileHandle
    private let output: PipeText
    private let errors: PipeText

    var baseURL: String { "http://127.0.0.1:\(port)" }
    /// runserver's own log (one line per request) and any traceback.
    var stderr: String { errors.text }

    private init(port: Int, process: Process, input: FileHandle, output: PipeText, errors: PipeText) {
        self.port = port
        self.process = process
        self.input = input
        self.output = output
        self.errors = errors
    }

    static let serveScript = PythonProcess.repository.appendingPathComponent("Tests/django_upstream/serve.py").path

    /// Starts serve.py (SQLite database in `directory`, migrations, demo users alice/wonderland and bob/builder)
    /// and waits for it to listen.
    static func start(_ settings: Settings, directory: TemporaryDirectory, timeout: Duration = .seconds(60)) async throws -> DjangoUpstream {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", serveScript]
        var environment = ProcessInfo.processInfo.environment
        environment["DJANGO_UPSTREAM_DIR"] = directory.path
        environment["JWT_ALGORITHM"] = settings.algorithm
        environment["JWT_KEY_FILE"] = settings.keyFile
        environment["JWT_ISSUER"] = settings.issuer
        environment["JWT_AUDIENCE"] = settings.audience
        environment["JWT_USER_ID_CLAIM"] = settings.userIdClaim
        environment["PYTHONUNBUFFERED"] = "1"
        environment["PYTHONDONTWRITEBYTECODE"] = "1"  // no __pycache__ in the source tree
        process.environment = environment
        let inPipe = Pipe(), outPipe = Pipe(), errPipe = Pipe()
        process.standardInput = inPipe
        process.standardOutput = outPipe
        process.standardError = errPipe
        try process.run()
        // The parent's copies of the other ends must go: EOF on stdin is serve.py's signal to exit, and the
        // collectors see EOF only when the child's output closes.
        try? inPipe.fileHandleForReading.close()
        try? outPipe.fileHandleForWriting.close()
        try? errPipe.fileHandleForWriting.close()
        let output = PipeText(outPipe), errors = PipeText(errPipe)

        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline, process.isRunning {
            if let port = listeningPort(in: output.text) {
                return DjangoUpstream(port: port, process: process, input: inPipe.fileHandleForWriting, output: output, errors: errors)
            }
            try await Task.sleep(for: .milliseconds(20))
        }
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
        throw DjangoUpstreamError.notListening(stdout: output.text, stderr: errors.text)
    }

    private static func listeningPort(in text: String) -> Int? {
        for line in text.split(separator: "\n") {
            if let range = line.range(of: "listening on 127.0.0.1:"), let port = Int(line[range.upperBound...]) { return port }
        }
        return nil
    }

    /// Ends the server (it is ours: by pid).
    func stop() {
        try? input.close()
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
    }

    /// A GET straight to Django, past the gateway.
    func get(_ target: String, token: String? = nil) async throws -> HTTPTestResponse {
        try await HTTPTestClient.get(target, port: port, headers: token.map { [("Authorization", "Bearer \($0)")] } ?? [])
    }

    /// Every request Django received so far, oldest first (its own `/test/received` excluded).
    func received() async throws -> [Received] {
        let response = try await HTTPTestClient.get("/test/received", port: port)
        guard response.status == 200, case .array(let list)? = response.json?["requests"] else {
            throw DjangoUpstreamError.badRecord(response.bodyText)
        }
        return try list.map { entry in
            guard let method = entry["method"]?.stringValue, let path = entry["path"]?.stringValue,
                  case .integer(let status)? = entry["status"]
            else { throw DjangoUpstreamError.badRecord(response.bodyText) }
            return Received(method: method, path: path, authorization: entry["authorization"]?.stringValue, status: Int(status))
        }
    }

    /// The bearer tokens Django received on `path`.
    func tokensReceived(on path: String = "/api/whoami") async throws -> [String] {
        try await received().filter { $0.path == path }.compactMap { $0.authorization }.map {
            $0.hasPrefix("Bearer ") ? String($0.dropFirst("Bearer ".count)) : $0
        }
    }
}

enum DjangoUpstreamError: Error, CustomStringConvertible {
    case notListening(stdout: String, stderr: String)
    case badRecord(String)

    var description: String {
        switch self {
        case .notListening(let stdout, let stderr):
            "Tests/django_upstream/serve.py did not listen (scripts/setup --tests installs Django); stdout:\n\(stdout)\nstderr:\n\(stderr)"
        case .badRecord(let body): "unexpected /test/received answer: \(body)"
        }
    }
}
