/// The real `gateway` executable run as a child process: launched on a config, waited for, signalled, killed.
import Foundation
import Glibc

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

/// The `gateway` executable run as a child process.
final class GatewayProcess: Sendable {
    let process: Process
    let directory: TemporaryDirectory
    let configPath: String
    private let stdoutCollector: PipeText
    private let stderrCollector: PipeText

    var pid: Int32 { process.processIdentifier }
    var stderr: String { stderrCollector.text }
    var stdout: String { stdoutCollector.text }

    private init(process: Process, directory: TemporaryDirectory, configPath: String, stdout: PipeText, stderr: PipeText) {
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
            stdout: PipeText(outPipe), stderr: PipeText(errPipe)
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
            if let port = listeningPort(in: stderr) { return port }
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

/// The port of the first `listening on HOST:PORT` line in `log` (the gateway's and the demo upstream's start line).
func listeningPort(in log: String) -> Int? {
    for line in log.split(separator: "\n") {
        guard let range = line.range(of: "listening on ") else { continue }
        let address = line[range.upperBound...].trimmingCharacters(in: .whitespaces)
        if let colon = address.lastIndex(of: ":"), let port = Int(address[address.index(after: colon)...]) {
            return port
        }
    }
    return nil
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

/// `withGatewayProcess` on the config `config` renders.
func withGatewayProcess<T>(
    _ config: TestConfig, _ values: [String: String] = [:], _ body: (GatewayProcess, Int) async throws -> T
) async throws -> T {
    try await withGatewayProcess(config.text, values, body)
}
