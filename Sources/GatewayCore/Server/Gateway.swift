import Foundation
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import NIOSSL
import NIOPosix

/// A whole gateway assembled from a config: key, session store, event loops, the libcurl transport and
/// the listener. The executable and the integration tests build it the same way.
public final class Gateway: Sendable {
    public let server: GatewayServer<CurlUpstreamClient>
    public let store: any SessionStore
    public let revocations: RevocationList
    public let metrics: GatewayMetrics
    /// The operators' listener, when `admin.listen` is set (started by `start()`).
    public let admin: AdminServer?
    private let accessLog: AccessLog
    private let adminBound = NIOLockedValueBox<SocketAddress?>(nil)
    /// What requests use now: swapped by `reload(from:)` (docs/operations.md#reload).
    public let active: ActiveGateway
    private let reloading: ConfigReload
    public var runtime: GatewayRuntime { active.current.runtime }
    public var issuer: TokenIssuer { active.current.issuer }
    public var verifier: TokenVerifier { active.current.verifier }
    private let group: MultiThreadedEventLoopGroup
    private let upstream: CurlUpstreamClient
    /// Reads other gateways' revocations until `close()`.
    private let watching: Task<Void, Never>

    public struct StartupError: Error, CustomStringConvertible {
        public let description: String
    }

    /// Compiles `config`, loads the key and opens the store; nothing listens until `server.start()`.
    /// Relative file paths in the config resolve against `baseDirectory` (the config file's folder).
    public static func make(config: GatewayConfig, baseDirectory: String = ".", logger: Logger,
                            threads: Int = CPUAffinity.usableCores, clock: WallClock = .system,
                            store: (any SessionStore)? = nil,
                            onListening: @escaping @Sendable (SocketAddress) -> Void = { _ in }) async throws -> Gateway {
        let key: SigningKey
        do {
            key = try await SigningKey.load(config.tokens, relativeTo: baseDirectory)
        } catch {
            throw StartupError(description: "\(error)")
        }
        let tls: NIOSSLContext?
        do {
            tls = try ListenerTLS.load(config.server, relativeTo: baseDirectory)
        } catch {
            throw StartupError(description: error.description)
        }
        let upstreamHosts = Set(config.upstreams.flatMap { $0.targets.map(\.authority) }).count + 1
        let budget: DescriptorBudget
        do {
            budget = try DescriptorBudget.decide(
                configured: config.server.maxConnections, descriptorLimit: DescriptorBudget.raiseDescriptorLimit(),
                maxUpstreamConnections: max(1, threads) * min(CurlUpstreamClient.maxConnectionsPerHost * upstreamHosts,
                                                               CurlUpstreamClient.maxCachedConnections)
            )
        } catch {
            throw StartupError(description: error.description)
        }
        if let warning = budget.warning { logger.warning("\(warning)") }
        let metrics = GatewayMetrics()
        let accessLog: AccessLog
        do {
            accessLog = try AccessLog(config.log.access, baseDirectory: baseDirectory) { metrics.accessLogDropped.increment() }
        } catch {
            throw StartupError(description: "\(error)")
        }
        let sessionStore: any SessionStore
        if let store {
            sessionStore = store
        } else {
            do {
                sessionStore = try await openStore(config.store.location, baseDirectory: baseDirectory, logger: logger)
            } catch {
                accessLog.stop()
                throw error
            }
        }
        return Gateway(config: config, key: key, tls: tls, store: sessionStore, logger: logger, threads: threads, clock: clock,
                       maxConnections: budget.maxConnections, metrics: metrics, accessLog: accessLog, onListening: onListening)
    }

    /// Opens (and migrates) the configured store, as a starting gateway does; a relative SQLite path resolves
    /// against `baseDirectory`. `createSQLite: false` (the command line, docs/operations.md#sessions-from-the-command-line) refuses a database file that
    /// does not exist yet instead of creating it. Throws `StartupError` with a one-line reason.
    public static func openStore(_ location: StoreLocation, baseDirectory: String, logger: Logger,
                                 createSQLite: Bool = true) async throws -> any SessionStore {
        switch location {
        case .sqlite(let path):
            do {
                return try SQLiteSessionStore(path: SigningKey.resolve(path, in: baseDirectory), create: createSQLite)
            } catch {
                throw StartupError(description: "\(error)")
            }
        case .postgres(let url):
            do {
                return try await PostgresSessionStore(url: url, logger: logger)
            } catch {
                throw StartupError(description: "store.url: \(error)")
            }
        }
    }

    private init(config: GatewayConfig, key: SigningKey, tls: NIOSSLContext?, store: any SessionStore, logger: Logger, threads: Int,
                 clock: WallClock, maxConnections: Int, metrics: GatewayMetrics, accessLog: AccessLog,
                 onListening: @escaping @Sendable (SocketAddress) -> Void) {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: max(1, threads))
        let upstream = CurlUpstreamClient(threads: max(1, threads), logger: logger)
        let revocations = RevocationList(tokens: config.tokens)
        let watcher = RevocationWatcher(store: store, list: revocations, interval: config.store.revocationPoll, clock: clock, logger: logger)
        let lasting = CompiledGateway.Lasting(store: store, revocations: revocations, upstream: upstream, group: group,
                                              clock: clock, logger: logger, metrics: metrics, accessLog: accessLog)
        let active = ActiveGateway(CompiledGateway(config: config, key: key, tls: tls, lasting: lasting))
        self.active = active
        self.reloading = ConfigReload(active: active, lasting: lasting)
        self.group = group
        self.upstream = upstream
        self.store = store
        self.revocations = revocations
        self.watching = Task { await watcher.run() }
        self.metrics = metrics
        self.accessLog = accessLog
        self.admin = config.admin.listen.map { _ in AdminServer(metrics: metrics, readiness: { try await store.ping() }, group: group) }
        self.server = GatewayServer(active: active, upstream: upstream, accessLog: accessLog, group: group,
                                    maxConnections: maxConnections, onListening: onListening)
    }

    /// Starts the admin listener when configured, then the public listener; returns the public address. The admin
    /// listener goes first so that `listening on HOST:PORT` (what scripts wait for) is never followed by a failure.
    @discardableResult
    public func start() async throws -> SocketAddress {
        let server = self.server, revocations = self.revocations
        metrics.readGauges(connections: { server.openConnections.current }, revoked: { revocations.size },
                           tunnels: { revocations.tunnels.count })
        if let admin, let listen = runtime.config.admin.listen {
            let bound = try await admin.start(listen)
            adminBound.withLockedValue { $0 = bound }
        }
        return try await server.start()
    }

    /// Where the admin listener listens (port 0 resolved), once started.
    public var adminAddress: SocketAddress? { adminBound.withLockedValue { $0 } }

    /// Re-reads the config file at `path` and its key files and, when all is valid, swaps them in for new requests;
    /// otherwise changes nothing (docs/operations.md#reload). Logs `config reloaded` or one `config reload failed: …` per problem.
    @discardableResult
    public func reload(from path: String, reader: ConfigReader = ConfigReader()) async -> ReloadOutcome {
        await reloading.reload(from: path, reader: reader)
    }

    /// Reloads so far, by result (`gateway_config_reloads_total{result}`, docs/operations.md#metrics).
    public var reloads: (success: Int, failure: Int) { reloading.counts }

    /// Upstream transfers alive (in flight, or leaked): zero whenever the gateway is quiet.
    public var upstreamTransfersAlive: Int { upstream.census.alive }

    /// Releases the transport threads, event loops and the store (after the server has shut down).
    public func close() async {
        await admin?.stop()
        watching.cancel()
        await watching.value
        upstream.shutdown()
        try? await group.shutdownGracefully()
        try? await store.close()
        accessLog.stop()
    }
}
