import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOExtras

/// The listener: TLS when configured, HTTP/1.1 or HTTP/2 (`ConnectionPipeline`) in front of `ProxyHandler`. `shutdown` stops accepting and
/// lets in-flight requests finish (bounded by `shutdown_timeout`).
public final class GatewayServer<Upstream: UpstreamClient>: Sendable {
    private let active: ActiveGateway
    public var runtime: GatewayRuntime { active.current.runtime }
    private let upstream: Upstream
    private let accessLog: AccessLog
    private let group: any EventLoopGroup
    private let quiescing: ServerQuiescingHelper
    private let listener = NIOLockedValueBox<(any Channel)?>(nil)
    private let onListening: @Sendable (SocketAddress) -> Void
    /// `server.max_connections` as decided at start-up (see `DescriptorBudget`).
    public let maxConnections: Int
    /// Client connections open now.
    public let openConnections = OpenConnections()
    /// Connection handlers alive (one per HTTP/1.1 connection or HTTP/2 stream): zero once every connection has
    /// closed.
    public let handlers = Census()

    public init(active: ActiveGateway, upstream: Upstream, accessLog: AccessLog, group: any EventLoopGroup,
                maxConnections: Int? = nil, onListening: @escaping @Sendable (SocketAddress) -> Void = { _ in }) {
        self.maxConnections = maxConnections ?? active.current.config.server.maxConnections ?? DescriptorBudget.defaultMaxConnections
        self.active = active
        self.upstream = upstream
        self.accessLog = accessLog
        self.group = group
        self.quiescing = ServerQuiescingHelper(group: group)
        self.onListening = onListening
    }

    /// Binds the listener; returns the bound address (port 0 becomes the real port).
    @discardableResult
    public func start() async throws -> SocketAddress {
        let listen = runtime.config.server.listen
        let active = self.active, upstream = self.upstream, quiescing = self.quiescing, accessLog = self.accessLog
        let maxConnections = self.maxConnections, openConnections = self.openConnections, handlers = self.handlers
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
                    try channel.pipeline.syncOperations.addHandler(quiescing.makeServerChannelHandler(channel: channel))
                }
            }
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelOption(.maxMessagesPerRead, value: 16)
            // A client that half-closes after its request still gets the answer (ProxyHandler closes after it).
            .childChannelOption(.allowRemoteHalfClosure, value: true)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try ConnectionPipeline(active: active, upstream: upstream, accessLog: accessLog, handlers: handlers).configure(channel)
                }
            }
        let channel: any Channel
        do {
            channel = try await bootstrap.bind(host: listen.host, port: listen.port).get()
        } catch {
            throw BindError(address: listen, error: error)
        }
        listener.withLockedValue { $0 = channel }
        let address = channel.localAddress!
        onListening(address)
        return address
    }

    /// Stops accepting, asks every connection to finish its current request and close (NIOExtras'
    /// `ServerQuiescingHelper`: the listener closes, each connection gets `ChannelShouldQuiesceEvent`), and waits
    /// until they have all closed or `timeout` has passed. Connections still open then are closed with the
    /// event loops (`Gateway.close`).
    public func shutdown(timeout: Duration) async {
        guard listener.withLockedValue({ $0 }) != nil else { return }
        let loop = group.next()
        let drained = loop.makePromise(of: Void.self)
        quiescing.initiateShutdown(promise: drained)
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let resumed = NIOLockedValueBox(false)
            let resumeOnce: @Sendable () -> Void = {
                let first = resumed.withLockedValue { done in
                    defer { done = true }
                    return !done
                }
                if first { continuation.resume() }
            }
            let timer = loop.scheduleTask(in: TimeAmount(timeout)) { resumeOnce() }
            drained.futureResult.whenComplete { _ in
                timer.cancel()
                resumeOnce()
            }
        }
    }
}
