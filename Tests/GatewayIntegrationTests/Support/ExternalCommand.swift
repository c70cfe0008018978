/// Runs a program the tests rely on (openssl, curl, python3 clients) to completion, off the test's thread.
import Foundation
import Testing

struct ExternalCommand: Sendable {
    struct Outcome: Sendable {
        var status: Int32
        var stdout: String
        var stderr: String
    }

    /// Runs `arguments` (looked up on PATH) with `input` on stdin; returns when it has exited.
    static func run(_ arguments: [String], input: String? = nil) async throws -> Outcome {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = arguments
        let out = Pipe(), err = Pipe(), inPipe = Pipe()
        process.standardOutput = out
        process.standardError = err
        process.standardInput = input == nil ? FileHandle.nullDevice : inPipe
        let stdout = PipeText(out), stderr = PipeText(err)
        let status: Int32 = try await withCheckedThrowingContinuation { continuation in
            process.terminationHandler = { continuation.resume(returning: $0.terminationStatus) }
            do {
                try process.run()
            } catch {
                process.terminationHandler = nil
                return continuation.resume(throwing: error)
            }
            if let input {
                inPipe.fileHandleForWriting.write(Data(input.utf8))
                try? inPipe.fileHandleForWriting.close()
            }
        }
        // The readers reach EOF right after the process exits.
        let deadline = ContinuousClock.now + .seconds(5)
        while !(stdout.isFinished && stderr.isFinished) && ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(5))
        }
        return Outcome(status: status, stdout: stdout.text, stderr: stderr.text)
    }
}

/// A self-signed certificate for 127.0.0.1 and localhost, made by openssl in `directory` for one test.
struct TestCertificate: Sendable {
    let certificateFile: String
    let keyFile: String

    /// `keyType` as openssl's `-newkey` takes it: "rsa:2048", or "ec" (P-256).
    static func make(in directory: String, name: String = "server", commonName: String = "localhost",
                     keyType: String = "ec") async throws -> TestCertificate {
        let certificate = TestCertificate(certificateFile: "\(directory)/\(name)-cert.pem", keyFile: "\(directory)/\(name)-key.pem")
        var arguments = ["openssl", "req", "-x509", "-newkey", keyType]
        if keyType == "ec" { arguments += ["-pkeyopt", "ec_paramgen_curve:P-256"] }
        arguments += ["-nodes", "-days", "1", "-subj", "/CN=\(commonName)",
                      "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
                      "-keyout", certificate.keyFile, "-out", certificate.certificateFile]
        let outcome = try await ExternalCommand.run(arguments)
        try #require(outcome.status == 0, "openssl could not make a certificate: \(outcome.stderr)")
        return certificate
    }
}
