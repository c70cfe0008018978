import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import NIOPosix
import ServiceLifecycle

/// The listener: SwiftNIO's HTTP/1.1 server pipeline in front of `ProxyHandler`, run as a ServiceLifecycle service.
/// On graceful shutdown it stops accepting, lets in-flight requests finish (bounded by `shutdown_timeout`), then returns.
public final class GatewayServer<Upstream: UpstreamClient>: Service, Sendable {
    public let runtime: GatewayRuntime
    private let upstream: Upstream
    private let endpoints: GatewayEndpoints
    private let group: any EventLoopGroup
    private let connections = ConnectionRegistry()
    private let listener = NIOLockedValueBox<(any Channel)?>(nil)
    private let onListening: @Sendable (SocketAddress) -> Void
    /// `server.max_connections` as decided at start-up (see `DescriptorBudget`).
    public let maxConnections: Int
    /// Client connections open now.
    public let openConnections = OpenConnections()

    public init(runtime: GatewayRuntime, upstream: Upstream, endpoints: GatewayEndpoints, group: any EventLoopGroup,
                maxConnections: Int? = nil, onListening: @escaping @Sendable (SocketAddress) -> Void = { _ in }) {
        self.maxConnections = maxConnections ?? runtime.config.server.maxConnections ?? DescriptorBudget.defaultMaxConnections
        self.runtime = runtime
        self.upstream = upstream
        self.endpoints = endpoints
        self.group = group
        self.onListening = onListening
    }

    public struct BindError: Error, CustomStringConvertible {
        public let address: String
        public let reason: String
        public var description: String { "cannot listen on \(address): \(reason)" }
    }

    /// Binds the listener; returns the bound address (port 0 becomes the real port).
    @discardableResult
    public func start() async throws -> SocketAddress {
        let listen = runtime.config.server.listen
        let runtime = self.runtime, upstream = self.upstream, endpoints = self.endpoints, connections = self.connections
        let maxConnections = self.maxConnections, openConnections = self.openConnections
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 1024)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            // One accept per read, so the connection limit is exact.
            .serverChannelOption(.maxMessagesPerRead, value: 1)
            .serverChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    // Out of descriptors (EMFILE/ENFILE), accepting again at once would spin: back off instead.
                    try channel.pipeline.syncOperations.addHandler(AcceptBackoffHandler(shouldForwardIOErrorCaught: false))
                    try channel.pipeline.syncOperations.addHandler(ConnectionLimiter(limit: maxConnections, gauge: openConnections))
                }
            }
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelOption(.maxMessagesPerRead, value: 16)
            // A client that half-closes after its request still gets the answer (ProxyHandler closes after it).
            .childChannelOption(.allowRemoteHalfClosure, value: true)
            .childChannelInitializer { channel in
                connections.add(channel)
                return channel.eventLoop.makeCompletedFuture {
                    let sync = channel.pipeline.syncOperations
                    // Pipelining is handled by ProxyHandler (it keeps reading instead of toggling read interest
                    // per request); response heads are built from parsed, well-formed header lines.
                    try sync.configureHTTPServerPipeline(withPipeliningAssistance: false, withErrorHandling: false,
                                                         withOutboundHeaderValidation: false)
                    try sync.addHandler(ProxyHandler(runtime: runtime, upstream: upstream, endpoints: endpoints))
                }
            }
        let channel: any Channel
        do {
            channel = try await bootstrap.bind(host: listen.host, port: listen.port).get()
        } catch {
            throw BindError(address: listen.description, reason: "\(error)")
        }
        listener.withLockedValue { $0 = channel }
        let address = channel.localAddress!
        onListening(address)
        return address
    }

    /// Stops accepting, asks every connection to finish its current request and close, and waits up to `timeout`.
    public func shutdown(timeout: Duration) async {
        if let channel = listener.withLockedValue({ $0 }) {
            try? await channel.close()
        }
        connections.quiesceAll()
        let deadline = ContinuousClock.now + timeout
        while connections.count > 0 && ContinuousClock.now < deadline {
            try? await Task.sleep(for: .milliseconds(20))
        }
        connections.closeAll()
        while connections.count > 0 && ContinuousClock.now < deadline + .seconds(1) {
            try? await Task.sleep(for: .milliseconds(10))
        }
    }

    public func run() async throws {
        let address = try await start()
        runtime.logger.debug("accepting connections", metadata: ["address": "\(address)"])
        try? await gracefulShutdown()
        runtime.logger.info("shutting down: draining in-flight requests")
        await shutdown(timeout: runtime.config.server.shutdownTimeout)
    }
}

/// Open client connections, for the graceful drain.
final class ConnectionRegistry: Sendable {
    private let channels = NIOLockedValueBox<[ObjectIdentifier: any Channel]>([:])

    func add(_ channel: any Channel) {
        let id = ObjectIdentifier(channel)
        channels.withLockedValue { $0[id] = channel }
        channel.closeFuture.whenComplete { [self] _ in
            _ = channels.withLockedValue { $0.removeValue(forKey: id) }
        }
    }

    var count: Int { channels.withLockedValue { $0.count } }

    /// ProxyHandler closes idle connections now and busy ones after their current response.
    func quiesceAll() {
        for channel in channels.withLockedValue({ Array($0.values) }) {
            channel.pipeline.fireUserInboundEventTriggered(ChannelShouldQuiesceEvent())
        }
    }

    func closeAll() {
        for channel in channels.withLockedValue({ Array($0.values) }) {
            channel.close(promise: nil)
        }
    }
}
