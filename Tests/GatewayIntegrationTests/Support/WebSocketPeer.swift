/// Both ends of a real WebSocket for the tunnel tests (docs/http.md#websocket): scripts/websocket_peer.py (Python `websockets`)
/// run as child processes, an echo upstream and clients, each reporting in JSON lines.
import Foundation
import Glibc
import Synchronization

/// A `websocket_peer.py` child process and the JSON lines it printed so far.
final class WebSocketPeer: Sendable {
    private let pid: pid_t
    /// Set once the child has been reaped.
    private let exited = Mutex(false)
    private let output: PipeText
    private let errors: PipeText

    static let script = PythonProcess.repository.appendingPathComponent("scripts/websocket_peer.py").path

    private init(_ arguments: [String]) throws {
        let child = try Self.spawn(["python3", Self.script] + arguments)
        pid = child.pid
        output = PipeText(FileHandle(fileDescriptor: child.stdout, closeOnDealloc: true))
        errors = PipeText(FileHandle(fileDescriptor: child.stderr, closeOnDealloc: true))
    }

    /// Runs `arguments` through /usr/bin/env with stdout and stderr on pipes, stdin from /dev/null, no other
    /// descriptor of the test process and no blocked signal. posix_spawn closes the rest itself (closefrom):
    /// Foundation's Process.run scans /proc/self/fd for it, and that scan crashed the test process once, in
    /// another suite, with the whole run's thousands of descriptors open (the fewer scans, the better).
    private static func spawn(_ arguments: [String]) throws -> (pid: pid_t, stdout: Int32, stderr: Int32) {
        guard let addCloseFrom = Self.addCloseFrom else { throw HarnessError.socket(ENOSYS) }
        var out: [Int32] = [-1, -1], err: [Int32] = [-1, -1]
        guard pipe(&out) == 0 else { throw HarnessError.socket(errno) }
        guard pipe(&err) == 0 else {
            close(out[0]); close(out[1])
            throw HarnessError.socket(errno)
        }
        // Not inherited by other tests' children (the child gets its ends through dup2, which clears the flag).
        for fd in out + err { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_adddup2(&actions, out[1], 1)
        posix_spawn_file_actions_adddup2(&actions, err[1], 2)
        _ = addCloseFrom(&actions, 3)
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var noSignals = sigset_t()
        sigemptyset(&noSignals)
        posix_spawnattr_setsigmask(&attributes, &noSignals)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK))
        let argv = (["/usr/bin/env"] + arguments).map { strdup($0) } + [nil]
        defer { for pointer in argv { free(pointer) } }
        var pid: pid_t = 0
        let spawned = posix_spawn(&pid, "/usr/bin/env", &actions, &attributes, argv, environ)
        close(out[1])
        close(err[1])
        guard spawned == 0 else {
            close(out[0]); close(err[0])
            throw HarnessError.socket(spawned)
        }
        return (pid, out[0], err[0])
    }

    deinit {
        stop()
    }

    /// glibc's posix_spawn_file_actions_addclosefrom_np (2.34+), which Swift's Glibc module does not import.
    private typealias AddCloseFrom = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32
    private static let addCloseFrom: AddCloseFrom? = dlsym(nil, "posix_spawn_file_actions_addclosefrom_np")
        .map { unsafeBitCast($0, to: AddCloseFrom.self) }

    /// Whether the child still runs (reaping it once it has ended).
    private var isRunning: Bool {
        exited.withLock { exited in
            if !exited, waitpid(pid, nil, WNOHANG) == pid { exited = true }
            return !exited
        }
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
        _ = await eventually(timeout: timeout) { match() != nil || (!isRunning && output.isFinished) }
        return match()
    }

    /// How many lines have `key` equal to `value`.
    func count(_ key: String, _ value: String) -> Int {
        lines.filter { $0[key] as? String == value }.count
    }

    /// Waits for the process to end on its own.
    func finished(timeout: Duration = .seconds(30)) async -> Bool {
        await eventually(timeout: timeout) { !isRunning && output.isFinished }
    }

    var stderr: String { errors.text }

    /// Ends the process (ours: by pid) if it still runs, and reaps it.
    func stop() {
        exited.withLock { exited in
            guard !exited else { return }
            kill(pid, SIGKILL)
            _ = waitpid(pid, nil, 0)
            exited = true
        }
    }
}

/// Runs `body` with a fresh echo upstream at `ws://127.0.0.1:PORT`, stopping it afterwards whatever happens.
func withWebSocketUpstream<T>(_ body: (WebSocketPeer, String) async throws -> T) async throws -> T {
    let (peer, port) = try await WebSocketPeer.echoUpstream()
    defer { peer.stop() }
    return try await body(peer, "http://127.0.0.1:\(port)")
}
