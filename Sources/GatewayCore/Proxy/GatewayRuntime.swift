import Logging
import NIOCore
import Synchronization

/// Everything the hot path reads, compiled once from the config before the listener binds.
public final class GatewayRuntime: Sendable {
    public let config: GatewayConfig
    public let routes: RouteTable
    let upstreams: [UpstreamRuntime]
    let requestBuilder: UpstreamRequestBuilder
    let renewalResponse: RenewalResponseHeaders
    let logger: Logger

    public init(config: GatewayConfig, logger: Logger) {
        self.config = config
        self.routes = RouteTable(compiling: config)
        self.upstreams = config.upstreams.map(UpstreamRuntime.init)
        self.requestBuilder = UpstreamRequestBuilder(headers: config.headers)
        self.renewalResponse = RenewalResponseHeaders(header: config.renewal.header)
        self.logger = logger
    }
}

/// An upstream with its round-robin position.
final class UpstreamRuntime: Sendable {
    let config: UpstreamConfig
    private let next = Atomic<Int>(0)

    init(_ config: UpstreamConfig) {
        self.config = config
    }

    /// All targets, starting with this request's round-robin pick, then the others for failover.
    func targetsInOrder() -> [UpstreamTarget] {
        let targets = config.targets
        guard targets.count > 1 else { return targets }
        let start = Int(UInt(bitPattern: next.wrappingAdd(1, ordering: .relaxed).oldValue) % UInt(targets.count))
        return (0..<targets.count).map { targets[(start + $0) % targets.count] }
    }
}
