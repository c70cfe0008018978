import ArgumentParser
import Foundation
import GatewayCore
import Logging
import ServiceLifecycle
import UnixSignals

@main
struct GatewayCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gateway",
        abstract: "A reverse-proxy auth gateway: JWT checks per route, sessions, and server-side silent renewal.",
        version: GatewayVersion.current,
        subcommands: [Serve.self, Sessions.self, Check.self]
    )
}

struct ConfigOption: ParsableArguments {
    @Option(name: .long, help: "Config file (default: $GATEWAY_CONFIG, then ./gateway.conf).")
    var config: String?

    var path: String {
        config ?? ProcessInfo.processInfo.environment["GATEWAY_CONFIG"].flatMap { $0.isEmpty ? nil : $0 } ?? "gateway.conf"
    }

    /// The config file's folder: relative paths in the config resolve against it (docs/configuration.md).
    var baseDirectory: String { ConfigReader.directory(of: path) }

    /// Reads the config, or prints every problem and exits 1.
    func load() throws -> GatewayConfig {
        do {
            return try ConfigReader().read(path: path)
        } catch {
            printError(error.description)
            throw ExitCode(1)
        }
    }
}

func printError(_ text: String) {
    FileHandle.standardError.write(Data((text + "\n").utf8))
}

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Run the gateway.")

    @OptionGroup var options: ConfigOption

    @Option(name: .long, help: "Log level: trace, debug, info, notice, warning, error, critical.")
    var logLevel: String = ProcessInfo.processInfo.environment["GATEWAY_LOG_LEVEL"] ?? "info"

    func run() async throws {
        let config = try options.load()
        switch config.log.format {
        case .text: LoggingSystem.bootstrap { StreamLogHandler.standardError(label: $0) }
        case .json: LoggingSystem.bootstrap { JSONLogHandler.standardError(label: $0) }
        }
        // A reader that went away (a closed stdout pipe under the access log) is an error to the writer, not a signal
        // that ends the process.
        signal(SIGPIPE, SIG_IGN)
        var logger = Logger(label: "gateway")
        logger.logLevel = Logger.Level(rawValue: logLevel) ?? .info

        let gateway: Gateway
        do {
            gateway = try await Gateway.make(config: config, baseDirectory: options.baseDirectory, logger: logger, onListening: { address in
                let host = address.ipAddress ?? config.server.listen.host
                let shown = host.contains(":") ? "[\(host)]" : host
                printError("listening on \(shown):\(address.port ?? config.server.listen.port)")
            })
        } catch {
            printError("gateway: \(error)")
            throw ExitCode(1)
        }
        // Trapped before the listening line: a SIGHUP from then on reloads, never terminates.
        let hangups = await UnixSignalsSequence(trapping: .sighup)
        do {
            try await gateway.start()
            if let admin = gateway.adminAddress {
                let host = admin.ipAddress ?? "?"
                printError("admin listening on \(host.contains(":") ? "[\(host)]" : host):\(admin.port ?? 0)")
            }
        } catch {
            printError("gateway: \(error)")
            await gateway.close()
            throw ExitCode(1)
        }
        let janitor = SessionJanitor(store: gateway.store, logger: logger)
        let group = ServiceGroup(
            services: [DrainOnShutdown(gateway: gateway), janitor,
                       ReloadOnHangup(gateway: gateway, path: options.path, hangups: hangups)],
            gracefulShutdownSignals: [.sigterm, .sigint],
            logger: logger
        )
        try await group.run()
        await gateway.close()
    }
}

/// Waits for the shutdown signal, then drains the already-listening server.
struct DrainOnShutdown: Service {
    let gateway: Gateway

    func run() async throws {
        try? await gracefulShutdown()
        await gateway.server.shutdown(timeout: gateway.runtime.config.server.shutdownTimeout)
    }
}

/// SIGHUP: reloads the config file and the key files (docs/operations.md#reload), one reload at a time, until shutdown.
struct ReloadOnHangup: Service {
    let gateway: Gateway
    let path: String
    let hangups: UnixSignalsSequence

    func run() async throws {
        for await _ in hangups.cancelOnGracefulShutdown() {
            await gateway.reload(from: path)
        }
    }
}

struct Check: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Validate the config and print the route table.")

    @OptionGroup var options: ConfigOption

    func run() async throws {
        let config = try options.load()
        let table = RouteTable(compiling: config)
        print("\(options.path): OK")
        print(table.rendered(upstreams: config.upstreams))
    }
}
