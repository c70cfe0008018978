import CCurl
import Logging
import NIOCore

/// The libcurl upstream client: a small fixed set of transport threads, each with its own connection pool.
/// An event loop always uses the same thread, so a client connection's requests share warm upstream connections.
public final class CurlUpstreamClient: UpstreamClient, @unchecked Sendable {
    private let loops: [CurlLoop]
    /// Transfers alive: back at zero whenever nothing is in flight (else an exchange leaked).
    public let census = Census()

    /// Call once per process before any client exists (libcurl's global init is not thread-safe).
    public static let globalInit: Void = {
        _ = cg_global_init()
    }()

    /// Connections one transport thread opens to one upstream host at most (CURLMOPT_MAX_HOST_CONNECTIONS).
    public static let maxConnectionsPerHost = 256
    /// Connections one transport thread keeps in all (CURLMOPT_MAXCONNECTS).
    public static let maxCachedConnections = 1024

    public init(threads: Int, maxConnectionsPerHost: Int = CurlUpstreamClient.maxConnectionsPerHost, logger: Logger) {
        _ = CurlUpstreamClient.globalInit
        self.loops = (0..<max(1, threads)).map {
            CurlLoop(name: "curl-\($0)", maxConnectionsPerHost: maxConnectionsPerHost, logger: logger)
        }
    }

    public func start(_ request: UpstreamRequest, on eventLoop: any EventLoop, sink: any UpstreamResponseSink) -> CurlTransfer {
        let loop = loops[Int(UInt(bitPattern: ObjectIdentifier(eventLoop).hashValue) % UInt(loops.count))]
        let transfer = CurlTransfer(request: request, eventLoop: eventLoop, sink: sink, loop: loop, census: census)
        loop.submit(.start(transfer))
        return transfer
    }

    public func shutdown() {
        for loop in loops { loop.stop() }
    }
}
