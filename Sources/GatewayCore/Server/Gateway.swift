import Logging
import NIOCore
import NIOPosix

/// A whole gateway assembled from a config: event loops, the libcurl transport and the listener.
/// The executable and the integration tests build it the same way.
public final class Gateway: Sendable {
    public let server: GatewayServer<CurlUpstreamClient>
    public let runtime: GatewayRuntime
    private let group: MultiThreadedEventLoopGroup
    private let upstream: CurlUpstreamClient

    /// Compiles `config` and prepares everything; nothing listens until `server.start()`/`run()`.
    public init(config: GatewayConfig, logger: Logger, threads: Int = System.coreCount,
                onListening: @escaping @Sendable (SocketAddress) -> Void = { _ in }) throws {
        let runtime = GatewayRuntime(config: config, logger: logger)
        let group = MultiThreadedEventLoopGroup(numberOfThreads: max(1, threads))
        let upstream = CurlUpstreamClient(threads: max(1, threads), logger: logger)
        self.runtime = runtime
        self.group = group
        self.upstream = upstream
        self.server = GatewayServer(runtime: runtime, upstream: upstream, endpoints: GatewayEndpoints(), group: group,
                                    onListening: onListening)
    }

    /// Releases the transport threads and event loops (after the server has shut down).
    public func close() async {
        upstream.shutdown()
        try? await group.shutdownGracefully()
    }
}
