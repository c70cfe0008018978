import Foundation
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import NIOPosix

/// A whole gateway assembled from a config: key, session store, event loops, the libcurl transport and
/// the listener. The executable and the integration tests build it the same way.
public final class Gateway: Sendable {
    public let server: GatewayServer<CurlUpstreamClient>
    public let runtime: GatewayRuntime
    public let store: any SessionStore
    public let issuer: TokenIssuer
    public let verifier: TokenVerifier
    public let revocations: RevocationList
    public let metrics: GatewayMetrics
    /// The operators' listener, when `admin.listen` is set (started by `start()`).
    public let admin: AdminServer?
    private let accessLog: AccessLog?
    private let adminBound = NIOLockedValueBox<SocketAddress?>(nil)
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
        let accessLog: AccessLog?
        do {
            accessLog = try AccessLog.open(config.log.access, baseDirectory: baseDirectory) { metrics.accessLogDropped.increment() }
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
                accessLog?.stop()
                throw error
            }
        }
        return Gateway(config: config, key: key, store: sessionStore, logger: logger, threads: threads, clock: clock,
                       maxConnections: budget.maxConnections, metrics: metrics, accessLog: accessLog, onListening: onListening)
    }

    /// Opens (and migrates) the configured store, as a starting gateway does; a relative SQLite path resolves
    /// against `baseDirectory`. `createSQLite: false` (the command line, SPEC §7.4) refuses a database file that
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

    private init(config: GatewayConfig, key: SigningKey, store: any SessionStore, logger: Logger, threads: Int,
                 clock: WallClock, maxConnections: Int, metrics: GatewayMetrics, accessLog: AccessLog?,
                 onListening: @escaping @Sendable (SocketAddress) -> Void) {
        let runtime = GatewayRuntime(config: config, logger: logger, metrics: metrics)
        let group = MultiThreadedEventLoopGroup(numberOfThreads: max(1, threads))
        let upstream = CurlUpstreamClient(threads: max(1, threads), logger: logger)
        let issuer = TokenIssuer(key: key, tokens: config.tokens)
        let verifier = TokenVerifier(key: key, tokens: config.tokens)
        let renewal = RenewalCoordinator(store: store, issuer: issuer, tokens: config.tokens, renewal: config.renewal, logger: logger,
                                         metrics: metrics)
        let revocations = RevocationList(tokens: config.tokens)
        let watcher = RevocationWatcher(store: store, list: revocations, interval: config.store.revocationPoll, clock: clock, logger: logger)
        let authenticator = Authenticator(verifier: verifier, renewal: renewal, revocations: revocations, config: config, clock: clock)
        let verifyURL = config.auth.verifyURL
        let tokenEndpoints = TokenEndpoints(
            config: config, store: store, issuer: issuer, verifier: verifier, revocations: revocations, clock: clock, logger: logger,
            metrics: metrics,
            checkCredentials: { [auth = config.auth] body, contentType, caller in
                var lines = HeaderLines()
                lines.append("Content-Type: ", contentType ?? "application/json")
                lines.append("Accept: application/json")
                lines.append("Expect:")
                // The API can throttle brute force by client address, and correlate with the gateway's log.
                if let forwardedFor = caller.forwardedFor { lines.append("X-Forwarded-For: ", forwardedFor) }
                lines.append("X-Forwarded-Proto: ", caller.scheme)
                lines.append("X-Request-Id: ", caller.requestID)
                if body.readableBytes == 0 { lines.append("Content-Length: 0") }
                let request = UpstreamRequest(method: "POST", urls: [verifyURL], headerLines: lines,
                                              body: .length(Int64(body.readableBytes)), connectTimeout: auth.verifyConnectTimeout)
                // The transport answers on an event loop; the endpoint awaits it.
                return try await upstream.fetch(request, body: body, on: group.any(), timeout: TimeAmount(auth.verifyTimeout)).get()
            }
        )
        let endpoints = GatewayEndpoints(
            authenticator: authenticator, tokens: tokenEndpoints, auth: config.auth, jwks: key.jwks,
            readiness: { try await store.ping() }
        )
        self.runtime = runtime
        self.group = group
        self.upstream = upstream
        self.store = store
        self.issuer = issuer
        self.verifier = verifier
        self.revocations = revocations
        self.watching = Task { await watcher.run() }
        self.metrics = metrics
        self.accessLog = accessLog
        self.admin = config.admin.listen.map { _ in AdminServer(metrics: metrics, readiness: { try await store.ping() }, group: group) }
        self.server = GatewayServer(runtime: runtime, upstream: upstream, endpoints: endpoints, accessLog: accessLog, group: group,
                                    maxConnections: maxConnections, onListening: onListening)
    }

    /// Starts the public listener, then the admin listener when configured; returns the public address.
    @discardableResult
    public func start() async throws -> SocketAddress {
        let address = try await server.start()
        let server = self.server, revocations = self.revocations
        metrics.readGauges(connections: { server.openConnections.current }, revoked: { revocations.size })
        if let admin, let listen = runtime.config.admin.listen {
            let bound = try await admin.start(listen)
            adminBound.withLockedValue { $0 = bound }
        }
        return address
    }

    /// Where the admin listener listens (port 0 resolved), once started.
    public var adminAddress: SocketAddress? { adminBound.withLockedValue { $0 } }

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
        accessLog?.stop()
    }
}
