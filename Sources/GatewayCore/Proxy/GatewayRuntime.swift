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
    let metrics: RuntimeMetrics

    public init(config: GatewayConfig, logger: Logger, metrics: GatewayMetrics = GatewayMetrics()) {
        self.config = config
        self.routes = RouteTable(compiling: config)
        self.upstreams = config.upstreams.map(UpstreamRuntime.init)
        self.requestBuilder = UpstreamRequestBuilder(headers: config.headers)
        self.renewalResponse = RenewalResponseHeaders(header: config.renewal.header)
        self.logger = logger
        self.metrics = RuntimeMetrics(config: config, metrics: metrics)
    }
}

/// The metrics a request touches, resolved for this runtime's routes, upstreams and endpoints (docs/operations.md#metrics: the
/// `route` label is a route's path, a gateway endpoint's path, or `none`).
struct RuntimeMetrics: Sendable {
    let gateway: GatewayMetrics
    /// By route index.
    let routes: [RouteMetrics]
    /// By upstream index.
    let upstreams: [UpstreamMetrics]
    let none: RouteMetrics
    private let endpoints: [RouteMetrics]

    init(config: GatewayConfig, metrics: GatewayMetrics) {
        gateway = metrics
        routes = config.routes.sorted { $0.index < $1.index }.map { metrics.route($0.path) }
        upstreams = config.upstreams.map { metrics.upstream($0.name) }
        none = metrics.route("none")
        endpoints = GatewayEndpoints.Endpoint.allCases.map { metrics.route($0.path(config.auth)) }
    }

    func endpoint(_ endpoint: GatewayEndpoints.Endpoint) -> RouteMetrics { endpoints[endpoint.rawValue] }
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
