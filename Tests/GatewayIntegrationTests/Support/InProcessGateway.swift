/// The gateway started inside the test process from config text, and the `with…` helpers that start and stop it
/// (with a TestUpstream in front of which it runs) whatever the test does.
import Foundation
import GatewayCore
import Logging

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
    /// `clock` lets a test move time instead of sleeping.
    static func start(_ toml: String, _ values: [String: String] = [:], threads: Int = 1,
                      clock: WallClock = .system) async throws -> InProcessGateway {
        let directory = try TemporaryDirectory()
        do {
            var all = values
            all["TMP"] = directory.path
            let config = try ConfigReader(environment: [:]).parse(ConfigText.inProcess(ConfigText.fill(toml, all)), file: "test.conf")
            var logger = Logger(label: "gateway-under-test")
            logger.logLevel = ProcessInfo.processInfo.environment["GATEWAY_TEST_LOG"].flatMap(Logger.Level.init(rawValue:)) ?? .critical
            // Relative paths in the config (signing key, SQLite store) land in the test's own directory.
            let gateway = try await Gateway.make(config: config, baseDirectory: directory.path, logger: logger,
                                                 threads: threads, clock: clock)
            do {
                let address = try await gateway.start()
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

/// Runs `body` against an in-process gateway started from `config`, stopping it afterwards whatever happens.
func withGateway<T>(_ config: TestConfig, _ values: [String: String] = [:], _ body: (InProcessGateway) async throws -> T) async throws -> T {
    try await withGateway(config.text, values, body)
}

/// The common case: one TestUpstream named `api` at `${UPSTREAM}` and a gateway in front of it.
func withUpstreamAndGateway<T>(_ toml: String, _ body: (TestUpstream, InProcessGateway) async throws -> T) async throws -> T {
    try await withUpstream { upstream in
        try await withGateway(toml, ["UPSTREAM": upstream.baseURL]) { gateway in
            try await body(upstream, gateway)
        }
    }
}

/// The common case: one TestUpstream named `api` at `${UPSTREAM}` and a gateway in front of it.
func withUpstreamAndGateway<T>(_ config: TestConfig, _ body: (TestUpstream, InProcessGateway) async throws -> T) async throws -> T {
    try await withUpstreamAndGateway(config.text, body)
}
