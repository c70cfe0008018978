/// A Python script of this repository run as a child process (the demo upstream, the browser flows), its output
/// collected; stopped by its pid.
import Foundation
import Glibc

final class PythonProcess: Sendable {
    /// The repository's root folder (this file is Tests/GatewayIntegrationTests/Support/PythonProcess.swift).
    static let repository = URL(fileURLWithPath: #filePath).resolvingSymlinksInPath()
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    let process: Process
    private let stdoutCollector: PipeText
    private let stderrCollector: PipeText

    var stdout: String { stdoutCollector.text }
    var stderr: String { stderrCollector.text }

    private init(process: Process, stdout: PipeText, stderr: PipeText) {
        self.process = process
        self.stdoutCollector = stdout
        self.stderrCollector = stderr
    }

    /// Starts `python3 -u <script> <arguments>`; `script` is relative to the repository.
    static func launch(_ script: String, _ arguments: [String]) throws -> PythonProcess {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", "-u", repository.appendingPathComponent(script).path] + arguments
        process.currentDirectoryURL = repository
        let outPipe = Pipe(), errPipe = Pipe()
        process.standardOutput = outPipe
        process.standardError = errPipe
        process.standardInput = FileHandle.nullDevice
        try process.run()
        try? outPipe.fileHandleForWriting.close()
        try? errPipe.fileHandleForWriting.close()
        return PythonProcess(process: process, stdout: PipeText(outPipe), stderr: PipeText(errPipe))
    }

    /// Waits for the script to end (killing it after `timeout`) and for its output; returns its exit status.
    func waitForExit(timeout: Duration) async throws -> Int32 {
        let deadline = ContinuousClock.now + timeout
        while process.isRunning {
            if ContinuousClock.now >= deadline {
                stop()
                throw PythonProcessError.timedOut(timeout, stderr: stderr)
            }
            try await Task.sleep(for: .milliseconds(50))
        }
        while !(stdoutCollector.isFinished && stderrCollector.isFinished) && ContinuousClock.now < deadline + .seconds(2) {
            try await Task.sleep(for: .milliseconds(5))
        }
        return process.terminationStatus
    }

    /// Ends the script if it still runs (SIGTERM, then SIGKILL after 5 s) and waits for it.
    func stop() {
        guard process.isRunning else { return }
        kill(process.processIdentifier, SIGTERM)
        let deadline = ContinuousClock.now + .seconds(5)
        while process.isRunning && ContinuousClock.now < deadline { usleep(10_000) }
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
    }
}

enum PythonProcessError: Error, CustomStringConvertible {
    case timedOut(Duration, stderr: String)
    case notListening(stderr: String)

    var description: String {
        switch self {
        case .timedOut(let timeout, let stderr): "the script did not finish within \(timeout); stderr:\n\(stderr)"
        case .notListening(let stderr): "the demo upstream did not log `listening on`; stderr:\n\(stderr)"
        }
    }
}

/// scripts/demo_upstream.py on a free port of 127.0.0.1: the demo's API, its credential check and its pages.
struct DemoUpstream: Sendable {
    let process: PythonProcess
    let port: Int
    var baseURL: String { "http://127.0.0.1:\(port)" }

    /// `corsOrigins`: the origins whose browser calls it allows (`--cors-origin`).
    static func start(corsOrigins: [String] = []) async throws -> DemoUpstream {
        let process = try PythonProcess.launch("scripts/demo_upstream.py", ["--port", "0"] + corsOrigins.flatMap { ["--cors-origin", $0] })
        let deadline = ContinuousClock.now + .seconds(20)
        while ContinuousClock.now < deadline {
            if let port = listeningPort(in: process.stderr) { return DemoUpstream(process: process, port: port) }
            if !process.process.isRunning { break }
            try await Task.sleep(for: .milliseconds(20))
        }
        process.stop()
        throw PythonProcessError.notListening(stderr: process.stderr)
    }
}

/// Runs `body` with a demo upstream, stopping it afterwards whatever happens.
func withDemoUpstream<T>(corsOrigins: [String] = [], _ body: (DemoUpstream) async throws -> T) async throws -> T {
    let upstream = try await DemoUpstream.start(corsOrigins: corsOrigins)
    defer { upstream.process.stop() }
    return try await body(upstream)
}
