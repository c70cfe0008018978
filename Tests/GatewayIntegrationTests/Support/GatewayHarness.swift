/// Starts the gateway for a test, in-process or as the real `gateway` executable, and tears it down.
import Foundation
import GatewayCore
import Glibc
import Logging
import NIOCore
import Synchronization

// MARK: - config text

/// Config text for tests: `${NAME}` placeholders are filled from the given values before the gateway
/// reads it (names not given are left for the gateway's own environment substitution).
enum ConfigText {
    static func fill(_ template: String, _ values: [String: String]) -> String {
        var text = template
        for (name, value) in values {
            text = text.replacingOccurrences(of: "${\(name)}", with: value)
        }
        return text
    }
}

/// 127.0.0.1:`port` (0: any).
func loopbackAddress(port: Int = 0) -> sockaddr_in {
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = in_port_t(UInt16(port).bigEndian)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    return address
}

/// A TCP socket bound to 127.0.0.1 on `port` (0: an ephemeral one), listening when `backlog` is given, with its
/// address. `configure` runs before `bind`, for socket options.
func loopbackSocket(port: Int = 0, backlog: Int32?, configure: (Int32) -> Void = { _ in }) throws -> (fd: Int32, address: sockaddr_in) {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { throw HarnessError.socket(errno) }
    configure(fd)
    var address = loopbackAddress(port: port)
    let bound = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    }
    guard bound == 0, backlog.map({ listen(fd, $0) == 0 }) ?? true else {
        let code = errno
        Glibc.close(fd)
        throw HarnessError.socket(code)
    }
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    _ = withUnsafeMutablePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
    }
    return (fd, address)
}

/// Accepts connections on `listener` until `isStopping()`, each served on a thread of its own by `serve`, which
/// owns the connection's descriptor; closes the listener at the end. `configure` runs on each new connection.
func acceptConnections(on listener: Int32, until isStopping: @escaping @Sendable () -> Bool,
                       configure: @escaping @Sendable (Int32) -> Void = { _ in },
                       serve: @escaping @Sendable (Int32) -> Void) {
    Thread {
        defer { Glibc.close(listener) }
        while !isStopping() {
            var descriptor = pollfd(fd: listener, events: Int16(POLLIN), revents: 0)
            guard poll(&descriptor, 1, 100) > 0 else { continue }
            let client = accept(listener, nil, nil)
            guard client >= 0 else { continue }
            configure(client)
            Thread { serve(client) }.start()
        }
    }.start()
}

/// A loopback port free to bind now (bound and closed; ephemeral, so another listener may take it later).
func closedPort() throws -> Int {
    let (fd, address) = try loopbackSocket(backlog: nil)
    Glibc.close(fd)
    return Int(UInt16(bigEndian: address.sin_port))
}

/// A loopback port that refuses connections and stays so, for a dead upstream target: a privileged one (below
/// 1024) that refuses now. A closed ephemeral port could be handed to another test's listener a moment later
/// (the suite runs in parallel), and the "dead" target would answer. `index` picks further ones.
func deadPort(_ index: Int = 0) throws -> Int {
    var skipped = 0
    for port in 1..<1024 where refusesConnections(port: port) {
        if skipped == index { return port }
        skipped += 1
    }
    throw HarnessError.noPort
}

func refusesConnections(port: Int) -> Bool {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { return false }
    defer { Glibc.close(fd) }
    var address = loopbackAddress(port: port)
    let result = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    }
    return result != 0 && errno == ECONNREFUSED
}

enum HarnessError: Error, CustomStringConvertible {
    case socket(Int32)
    case noPort
    case executableNotFound([String])
    case notListening(stderr: String)
    case didNotExit(stderr: String)

    var description: String {
        switch self {
        case .socket(let code): "socket error \(code)"
        case .noPort: "the gateway reported no port"
        case .executableNotFound(let looked): "gateway executable not found; looked in \(looked.joined(separator: ", ")) (set GATEWAY_BINARY)"
        case .notListening(let stderr): "gateway did not log `listening on`; stderr:\n\(stderr)"
        case .didNotExit(let stderr): "gateway did not exit in time; stderr:\n\(stderr)"
        }
    }
}

// MARK: - temporary directory

/// A fresh directory under the system temp dir, removed by `remove()`.
struct TemporaryDirectory: Sendable {
    let url: URL
    var path: String { url.path }

    init() throws {
        url = FileManager.default.temporaryDirectory
            .appendingPathComponent("auth-gateway-tests-\(UUID().uuidString.prefix(8))", isDirectory: true)
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }

    /// Writes `text` to `name` inside the directory and returns its path.
    @discardableResult
    func write(_ name: String, _ text: String) throws -> String {
        let file = url.appendingPathComponent(name)
        try Data(text.utf8).write(to: file)
        return file.path
    }

    func remove() { try? FileManager.default.removeItem(at: url) }
}

// MARK: - in-process gateway

/// A gateway running inside the test process on 127.0.0.1 with an ephemeral port.
final class InProcessGateway: Sendable {
    let gateway: Gateway
    let port: Int
    let directory: TemporaryDirectory

    private init(gateway: Gateway, port: Int, directory: TemporaryDirectory) {
        self.gateway = gateway
        self.port = port
        self.directory = directory
    }

    /// Parses `toml` (placeholders filled from `values`, plus `${TMP}` = a fresh temp directory) and starts listening.
    /// `clock` (ms since the epoch) lets a test move time instead of sleeping.
    static func start(_ toml: String, _ values: [String: String] = [:], threads: Int = 1,
                      clock: @escaping @Sendable () -> Int64 = Gateway.systemClock) async throws -> InProcessGateway {
        let directory = try TemporaryDirectory()
        do {
            var all = values
            all["TMP"] = directory.path
            let config = try ConfigReader(environment: [:]).parse(ConfigText.fill(toml, all), file: "test.conf")
            var logger = Logger(label: "gateway-under-test")
            logger.logLevel = ProcessInfo.processInfo.environment["GATEWAY_TEST_LOG"].flatMap(Logger.Level.init(rawValue:)) ?? .critical
            // Relative paths in the config (signing key, SQLite store) land in the test's own directory.
            let gateway = try await Gateway.make(config: config, baseDirectory: directory.path, logger: logger,
                                                 threads: threads, clock: clock)
            do {
                let address = try await gateway.server.start()
                guard let port = address.port else { throw HarnessError.noPort }
                return InProcessGateway(gateway: gateway, port: port, directory: directory)
            } catch {
                await gateway.close()
                throw error
            }
        } catch {
            directory.remove()
            throw error
        }
    }

    func stop() async {
        await gateway.server.shutdown(timeout: .seconds(1))
        await gateway.close()
        directory.remove()
    }
}

/// Runs `body` against a fresh TestUpstream, shutting it down afterwards whatever happens.
func withUpstream<T>(_ body: (TestUpstream) async throws -> T) async throws -> T {
    let upstream = try await TestUpstream.start()
    do {
        let result = try await body(upstream)
        try? await upstream.shutdown()
        return result
    } catch {
        try? await upstream.shutdown()
        throw error
    }
}

/// Runs `body` against an in-process gateway started from `toml`, stopping it afterwards whatever happens.
func withGateway<T>(_ toml: String, _ values: [String: String] = [:], _ body: (InProcessGateway) async throws -> T) async throws -> T {
    let gateway = try await InProcessGateway.start(toml, values)
    do {
        let result = try await body(gateway)
        await gateway.stop()
        return result
    } catch {
        await gateway.stop()
        throw error
    }
}

/// The common case: one TestUpstream named `api` at `${UPSTREAM}` and a gateway in front of it.
func withUpstreamAndGateway<T>(_ toml: String, _ body: (TestUpstream, InProcessGateway) async throws -> T) async throws -> T {
    try await withUpstream { upstream in
        try await withGateway(toml, ["UPSTREAM": upstream.baseURL]) { gateway in
            try await body(upstream, gateway)
        }
    }
}

/// Polls `condition` until it holds or `timeout` passes; returns whether it held.
func eventually(timeout: Duration = .seconds(3), _ condition: () -> Bool) async -> Bool {
    let deadline = ContinuousClock.now + timeout
    while !condition() {
        if ContinuousClock.now >= deadline { return false }
        try? await Task.sleep(for: .milliseconds(10))
    }
    return true
}

// MARK: - the real executable

/// Resident memory of a process, from /proc/PID/status.
struct ProcessMemory: Sendable, CustomStringConvertible {
    /// VmRSS in bytes.
    var resident: Int
    /// VmHWM (peak resident) in bytes.
    var peakResident: Int

    static func of(pid: Int32) throws -> ProcessMemory {
        let text = try String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)
        func kilobytes(_ key: String) -> Int {
            for line in text.split(separator: "\n") where line.hasPrefix(key + ":") {
                let number = line.dropFirst(key.count + 1).split(separator: " ").first { Int($0) != nil }
                return (number.flatMap { Int($0) } ?? 0) * 1024
            }
            return 0
        }
        return ProcessMemory(resident: kilobytes("VmRSS"), peakResident: kilobytes("VmHWM"))
    }

    var description: String { "VmRSS \(resident / 1024) KiB, VmHWM \(peakResident / 1024) KiB" }
}

/// How a finished `gateway` process ended.
struct ProcessOutcome: Sendable {
    var status: Int32
    /// True when it was killed by a signal rather than exiting.
    var signalled: Bool
    var stdout: String
    var stderr: String

    var stderrLines: [String] { stderr.split(separator: "\n").map(String.init) }
    var stdoutLines: [String] { stdout.split(separator: "\n").map(String.init) }
}

/// Accumulates a pipe's output on its own thread until EOF.
private final class PipeCollector: Sendable {
    private let data = Mutex(Data())
    private let finished = Mutex(false)

    init(_ pipe: Pipe) {
        let handle = pipe.fileHandleForReading
        let thread = Thread { [self] in
            while true {
                let chunk = handle.availableData
                if chunk.isEmpty { break }
                data.withLock { $0.append(chunk) }
            }
            finished.withLock { $0 = true }
        }
        thread.start()
    }

    var text: String { data.withLock { String(decoding: $0, as: UTF8.self) } }
    var isFinished: Bool { finished.withLock { $0 } }
}

/// The `gateway` executable run as a child process.
final class GatewayProcess: Sendable {
    let process: Process
    let directory: TemporaryDirectory
    let configPath: String
    private let stdoutCollector: PipeCollector
    private let stderrCollector: PipeCollector

    var pid: Int32 { process.processIdentifier }
    var stderr: String { stderrCollector.text }
    var stdout: String { stdoutCollector.text }

    private init(process: Process, directory: TemporaryDirectory, configPath: String, stdout: PipeCollector, stderr: PipeCollector) {
        self.process = process
        self.directory = directory
        self.configPath = configPath
        self.stdoutCollector = stdout
        self.stderrCollector = stderr
    }

    /// The built `gateway` executable next to the test bundle (override with GATEWAY_BINARY).
    static func executable() throws -> URL {
        let environment = ProcessInfo.processInfo.environment
        if let path = environment["GATEWAY_BINARY"], !path.isEmpty { return URL(fileURLWithPath: path) }
        var starts = [URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent()]
        if let bundle = Bundle.main.executableURL { starts.append(bundle.resolvingSymlinksInPath().deletingLastPathComponent()) }
        var looked: [String] = []
        for start in starts {
            var directory = start
            for _ in 0..<5 {
                for candidate in [directory.appendingPathComponent("gateway"), directory.appendingPathComponent("debug/gateway")] {
                    looked.append(candidate.path)
                    var isDirectory: ObjCBool = false
                    if FileManager.default.fileExists(atPath: candidate.path, isDirectory: &isDirectory), !isDirectory.boolValue,
                       FileManager.default.isExecutableFile(atPath: candidate.path) {
                        return candidate
                    }
                }
                directory = directory.deletingLastPathComponent()
            }
        }
        throw HarnessError.executableNotFound(looked)
    }

    /// Launches `gateway <arguments>` in a fresh temp directory (its working directory) holding `config`
    /// as `gateway.conf`; `${CONFIG}` in `arguments` is that file's path, `${TMP}` in the config the directory.
    static func launch(
        _ arguments: [String], config: String?, values: [String: String] = [:], environment: [String: String] = [:]
    ) throws -> GatewayProcess {
        let directory = try TemporaryDirectory()
        var all = values
        all["TMP"] = directory.path
        let configPath = directory.url.appendingPathComponent("gateway.conf").path
        if let config { try directory.write("gateway.conf", ConfigText.fill(config, all)) }

        let process = Process()
        process.executableURL = try executable()
        process.arguments = arguments.map { $0.replacingOccurrences(of: "${CONFIG}", with: configPath) }
        process.currentDirectoryURL = directory.url
        var env = ProcessInfo.processInfo.environment
        env.removeValue(forKey: "GATEWAY_CONFIG")
        for (name, value) in environment { env[name] = value }
        process.environment = env
        let outPipe = Pipe(), errPipe = Pipe()
        process.standardOutput = outPipe
        process.standardError = errPipe
        process.standardInput = FileHandle.nullDevice
        do {
            try process.run()
        } catch {
            directory.remove()
            throw error
        }
        // The parent's copies of the write ends must go, or the collectors never see EOF.
        try? outPipe.fileHandleForWriting.close()
        try? errPipe.fileHandleForWriting.close()
        return GatewayProcess(
            process: process, directory: directory, configPath: configPath,
            stdout: PipeCollector(outPipe), stderr: PipeCollector(errPipe)
        )
    }

    /// Runs `gateway <arguments>` to completion (e.g. `check`).
    static func run(
        _ arguments: [String], config: String?, values: [String: String] = [:], environment: [String: String] = [:],
        timeout: Duration = .seconds(20)
    ) async throws -> ProcessOutcome {
        let child = try launch(arguments, config: config, values: values, environment: environment)
        defer { child.cleanUp() }
        return try await child.waitForExit(timeout: timeout)
    }

    /// Waits for the `listening on HOST:PORT` line and returns PORT.
    func waitUntilListening(timeout: Duration = .seconds(20)) async throws -> Int {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            for line in stderr.split(separator: "\n") {
                guard let range = line.range(of: "listening on ") else { continue }
                let address = line[range.upperBound...].trimmingCharacters(in: .whitespaces)
                if let colon = address.lastIndex(of: ":"), let port = Int(address[address.index(after: colon)...]) {
                    return port
                }
            }
            if !process.isRunning { break }
            try await Task.sleep(for: .milliseconds(10))
        }
        throw HarnessError.notListening(stderr: stderr)
    }

    func memory() throws -> ProcessMemory { try ProcessMemory.of(pid: pid) }

    func signal(_ number: Int32) { if process.isRunning { kill(pid, number) } }

    var isRunning: Bool { process.isRunning }

    /// Waits for the process to end and for its output to be fully read.
    func waitForExit(timeout: Duration = .seconds(20)) async throws -> ProcessOutcome {
        let deadline = ContinuousClock.now + timeout
        while process.isRunning {
            if ContinuousClock.now >= deadline { throw HarnessError.didNotExit(stderr: stderr) }
            try await Task.sleep(for: .milliseconds(10))
        }
        while !(stdoutCollector.isFinished && stderrCollector.isFinished) && ContinuousClock.now < deadline + .seconds(2) {
            try await Task.sleep(for: .milliseconds(5))
        }
        return ProcessOutcome(
            status: process.terminationStatus, signalled: process.terminationReason == .uncaughtSignal,
            stdout: stdout, stderr: stderr
        )
    }

    /// Kills the process if it still runs (it is ours: by pid) and removes its directory.
    func cleanUp() {
        if process.isRunning {
            kill(pid, SIGKILL)
            process.waitUntilExit()
        }
        directory.remove()
    }
}

/// Launches `gateway serve --config …` from `config`, waits for it to listen, runs `body` with it and its port,
/// and kills it afterwards if `body` left it running.
func withGatewayProcess<T>(
    _ config: String, _ values: [String: String] = [:], _ body: (GatewayProcess, Int) async throws -> T
) async throws -> T {
    let child = try GatewayProcess.launch(["serve", "--config", "${CONFIG}"], config: config, values: values)
    defer { child.cleanUp() }
    let port = try await child.waitUntilListening()
    return try await body(child, port)
}

/// Samples a process's VmRSS every few milliseconds in the background and keeps the largest value.
final class MemorySampler: Sendable {
    private let peak = Mutex(0)
    private let task: Mutex<Task<Void, Never>?> = Mutex(nil)

    init(pid: Int32, every interval: Duration = .milliseconds(20)) {
        let sampling = Task.detached { [self] in
            while !Task.isCancelled {
                if let memory = try? ProcessMemory.of(pid: pid) {
                    self.peak.withLock { $0 = max($0, memory.resident) }
                }
                try? await Task.sleep(for: interval)
            }
        }
        task.withLock { $0 = sampling }
    }

    /// Stops sampling and returns the largest VmRSS seen, in bytes.
    func stop() async -> Int {
        let sampling = task.withLock { $0 }
        sampling?.cancel()
        await sampling?.value
        return peak.withLock { $0 }
    }
}

/// A listener whose accept queue is full: connecting to it neither succeeds nor is refused (the kernel drops
/// the SYN), which is how an unreachable host looks to a client, without leaving the machine.
final class FullBacklogListener: Sendable {
    let port: Int
    private let descriptors: [Int32]

    init() throws {
        var (listener, address) = try loopbackSocket(backlog: 0)
        var descriptors = [listener]
        // Fill the accept queue (never accepted); later SYNs are dropped.
        for _ in 0..<3 {
            let client = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0)
            guard client >= 0 else { continue }
            _ = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(client, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            }
            descriptors.append(client)
        }
        usleep(50_000)
        self.port = Int(UInt16(bigEndian: address.sin_port))
        self.descriptors = descriptors
    }

    func close() {
        for descriptor in descriptors { Glibc.close(descriptor) }
    }
}
