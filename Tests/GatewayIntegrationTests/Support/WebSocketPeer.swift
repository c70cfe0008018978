/// Both ends of a real WebSocket for the tunnel tests (SPEC §8.3): scripts/websocket_peer.py (Python `websockets`)
/// run as child processes, an echo upstream and clients, each reporting in JSON lines.
import Foundation
import Glibc
import Synchronization

/// A `websocket_peer.py` child process and the JSON lines it printed so far.
final class WebSocketPeer: Sendable {
    private let process: Process
    private let output: PipeText
    private let errors: PipeText

    static let script = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("scripts/websocket_peer.py").path

    private init(_ arguments: [String]) throws {
        process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", Self.script] + arguments
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        process.standardInput = FileHandle.nullDevice
        try process.run()
        try? out.fileHandleForWriting.close()
        try? err.fileHandleForWriting.close()
        output = PipeText(out)
        errors = PipeText(err)
    }

    /// The echo upstream, once it printed its port; with `tlsDirectory` (cert.pem, key.pem) it speaks wss.
    static func echoUpstream(tlsDirectory: String? = nil) async throws -> (peer: WebSocketPeer, port: Int) {
        let peer = try WebSocketPeer(["server"] + (tlsDirectory.map { ["--tls", $0] } ?? []))
        guard await eventually(timeout: .seconds(20), { peer.output.text.contains("\n") }),
              let port = Int(peer.output.text.split(separator: "\n").first ?? "") else {
            peer.stop()
            throw HarnessError.notListening(stderr: peer.errors.text)
        }
        return (peer, port)
    }

    /// A client of `url` running `scenario` (see the script), sending `headers` with its handshake.
    static func client(_ url: String, _ scenario: String, headers: [(String, String)] = []) throws -> WebSocketPeer {
        try WebSocketPeer(["client", url, scenario] + headers.flatMap { ["--header", "\($0.0): \($0.1)"] })
    }

    /// Every JSON object printed so far.
    var lines: [[String: Any]] {
        output.text.split(separator: "\n").compactMap {
            try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
        }
    }

    /// The first line with `key` (equal to `value` when given), waiting up to `timeout` for it.
    func line(_ key: String, _ value: String? = nil, timeout: Duration = .seconds(20)) async -> [String: Any]? {
        func match() -> [String: Any]? {
            lines.first { line in line[key] != nil && (value == nil || line[key] as? String == value) }
        }
        _ = await eventually(timeout: timeout) { match() != nil || (!process.isRunning && output.isFinished) }
        return match()
    }

    /// How many lines have `key` equal to `value`.
    func count(_ key: String, _ value: String) -> Int {
        lines.filter { $0[key] as? String == value }.count
    }

    /// Waits for the process to end on its own.
    func finished(timeout: Duration = .seconds(30)) async -> Bool {
        await eventually(timeout: timeout) { !process.isRunning && output.isFinished }
    }

    var stderr: String { errors.text }

    /// Ends the process (ours: by pid) if it still runs.
    func stop() {
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
    }
}

/// Runs `body` with a fresh echo upstream at `ws://127.0.0.1:PORT`, stopping it afterwards whatever happens.
func withWebSocketUpstream<T>(_ body: (WebSocketPeer, String) async throws -> T) async throws -> T {
    let (peer, port) = try await WebSocketPeer.echoUpstream()
    defer { peer.stop() }
    return try await body(peer, "http://127.0.0.1:\(port)")
}
