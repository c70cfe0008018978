import Prometheus
import Synchronization

/// The metrics of docs/operations.md#metrics, in swift-prometheus's registry (its text format is what `/metrics` serves).
///
/// Everything the hot path touches is resolved before a request arrives: a route's counters and histogram hang
/// off the compiled runtime (`RouteMetrics`, by route index), the auth outcomes are an array indexed by
/// `AuthLabel`. A request costs atomic increments and one histogram record, never a lookup by name. Counters are
/// the registry's own: asking it twice for one name and label set returns the same counter, so a runtime
/// compiled again (reload) keeps counting where the last one was.
///
/// The swift-metrics API has no help text, and the contract wants `# HELP` on every metric: the registry is
/// used directly.
public final class GatewayMetrics: Sendable {
    /// `gateway_auth_total{outcome}`.
    public enum AuthLabel: Int, Sendable, CaseIterable {
        case `public`, anonymous, valid, renewed, missing, invalid, expired, revoked, forbidden, storeUnavailable

        public var name: String {
            switch self {
            case .public: "public"
            case .anonymous: "anonymous"
            case .valid: "valid"
            case .renewed: "renewed"
            case .missing: "missing"
            case .invalid: "invalid"
            case .expired: "expired"
            case .revoked: "revoked"
            case .forbidden: "forbidden"
            case .storeUnavailable: "store_unavailable"
            }
        }

        /// The label of what auth decided on a route (`public` routes and CORS preflights verify nothing).
        static func of(_ outcome: AuthOutcome, publicRoute: Bool) -> AuthLabel {
            if publicRoute { return .public }
            switch outcome {
            case .anonymous: return .anonymous
            case .authenticated: return .valid
            case .renewed: return .renewed
            case .denied(let error, _): return of(error)
            }
        }

        /// The label of a refusal.
        static func of(_ error: GatewayError) -> AuthLabel {
            switch (error.code, error.problem) {
            case (.notAuthenticated, _): .missing
            case (.tokenNotValid, .expired?): .expired
            case (.tokenNotValid, .blacklisted?): .revoked
            case (.permissionDenied, _): .forbidden
            case (.storeUnavailable, _): .storeUnavailable
            default: .invalid
            }
        }
    }

    /// `gateway_renewals_total{result}`.
    public enum RenewalResult: Int, Sendable, CaseIterable {
        /// A new token and one store step.
        case issued
        /// A successor already issued (a parallel request's, or the predecessor's within grace).
        case joined
        case refused

        var name: String { ["issued", "joined", "refused"][rawValue] }
    }

    /// `gateway_sessions_total{event}`.
    public enum SessionEvent: Int, Sendable, CaseIterable {
        case login, refresh, logout, reuseRevoked

        var name: String { ["login", "refresh", "logout", "reuse_revoked"][rawValue] }
    }

    /// `gateway_upstream_requests_total{outcome}`.
    public enum UpstreamOutcome: Int, Sendable, CaseIterable {
        case ok, upstreamUnavailable, upstreamTimeout, aborted

        var name: String { ["ok", "upstream_unavailable", "upstream_timeout", "aborted"][rawValue] }
    }

    /// `gateway_config_reloads_total{result}`.
    public enum ReloadResult: Int, Sendable, CaseIterable {
        case success, failure

        var name: String { ["success", "failure"][rawValue] }
    }

    public let registry: PrometheusCollectorRegistry
    private let auth: [Counter]
    private let renewals: [Counter]
    private let sessions: [Counter]
    private let reloads: [Counter]
    let storeErrors: Counter
    let accessLogDropped: Counter
    /// Set from their sources when the page is served (`refreshGauges`).
    private let openConnections: Gauge
    private let revokedSessions: Gauge
    private let openTunnels: Gauge
    /// Read when the page is served: open client connections, revocations held, WebSocket tunnels open.
    private let gaugeSources = Mutex<(connections: @Sendable () -> Int, revoked: @Sendable () -> Int, tunnels: @Sendable () -> Int)>((
        connections: { 0 }, revoked: { 0 }, tunnels: { 0 }
    ))

    /// Seconds: 1 ms to 30 s, for requests and upstream heads alike.
    static let durationBuckets: [Duration] = [
        .milliseconds(1), .milliseconds(2), .milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(50),
        .milliseconds(100), .milliseconds(250), .milliseconds(500), .seconds(1), .milliseconds(2500), .seconds(5),
        .seconds(10), .seconds(30),
    ]

    public init(registry: PrometheusCollectorRegistry = PrometheusCollectorRegistry()) {
        self.registry = registry
        func counters(_ name: String, _ help: String, _ label: String, _ values: [String]) -> [Counter] {
            values.map { registry.makeCounter(descriptor: Self.descriptor(name, help), labels: [(label, $0)]) }
        }
        auth = counters("gateway_auth_total", "Auth decisions on proxied requests and the gateway's own endpoints, by outcome.",
                        "outcome", AuthLabel.allCases.map(\.name))
        renewals = counters("gateway_renewals_total", "Server-side renewals: issued (a new token and one store step), joined (a successor already issued), refused.",
                            "result", RenewalResult.allCases.map(\.name))
        sessions = counters("gateway_sessions_total", "Session events: login, refresh, logout, reuse_revoked (a rotated refresh token presented again).",
                            "event", SessionEvent.allCases.map(\.name))
        reloads = counters("gateway_config_reloads_total", "Config reloads (SIGHUP), by result.",
                           "result", ReloadResult.allCases.map(\.name))
        storeErrors = registry.makeCounter(descriptor: Self.descriptor("gateway_store_errors_total", "Session store operations that failed."))
        accessLogDropped = registry.makeCounter(descriptor: Self.descriptor(
            "gateway_access_log_dropped_total", "Access log lines dropped because the log's sink could not keep up."))
        openConnections = registry.makeGauge(descriptor: Self.descriptor("gateway_open_connections", "Client connections open now."))
        revokedSessions = registry.makeGauge(descriptor: Self.descriptor(
            "gateway_revoked_sessions", "Revoked sessions held in memory (refused on the hot path)."))
        openTunnels = registry.makeGauge(descriptor: Self.descriptor("gateway_open_tunnels", "WebSocket tunnels open now."))
    }

    /// A descriptor whose name is `name` exactly (the registry joins non-empty parts with `_`).
    static func descriptor(_ name: String, _ help: String) -> MetricNameDescriptor {
        MetricNameDescriptor(metricName: name, unitName: "", helpText: help)
    }

    public func count(_ outcome: AuthLabel) { auth[outcome.rawValue].increment() }
    public func count(_ result: RenewalResult) { renewals[result.rawValue].increment() }
    public func count(_ event: SessionEvent) { sessions[event.rawValue].increment() }
    public func count(_ result: ReloadResult) { reloads[result.rawValue].increment() }

    /// Where the gauges read from (the listener's connection count, the revocation list and its tunnels).
    func readGauges(connections: @escaping @Sendable () -> Int, revoked: @escaping @Sendable () -> Int,
                    tunnels: @escaping @Sendable () -> Int) {
        gaugeSources.withLock { $0 = (connections, revoked, tunnels) }
    }

    /// The Prometheus text page: the gauges read now, then everything the registry holds.
    public func page() -> [UInt8] {
        let sources = gaugeSources.withLock { $0 }
        openConnections.set(Int64(sources.connections()))
        revokedSessions.set(Int64(sources.revoked()))
        openTunnels.set(Int64(sources.tunnels()))
        var bytes: [UInt8] = []
        bytes.reserveCapacity(16 * 1024)
        registry.emit(into: &bytes)
        return bytes
    }

    /// The counters and histogram of one `route` label value (a route's path, a gateway endpoint's path, or
    /// `none`).
    func route(_ label: String) -> RouteMetrics { RouteMetrics(label: label, registry: registry) }

    func upstream(_ name: String) -> UpstreamMetrics { UpstreamMetrics(name: name, registry: registry) }
}

/// `gateway_requests_total{route,status}` and `gateway_request_duration_seconds{route}` for one route label.
final class RouteMetrics: Sendable {
    let label: String
    private let registry: PrometheusCollectorRegistry
    private let duration: DurationHistogram
    /// Counters by status code (100-599), made the first time a status is seen: a page lists the statuses that
    /// happened, and the lookup is an index, not a name.
    private let statuses = Mutex<[Counter?]>(Array(repeating: nil, count: 600))

    init(label: String, registry: PrometheusCollectorRegistry) {
        self.label = label
        self.registry = registry
        duration = registry.makeDurationHistogram(
            descriptor: GatewayMetrics.descriptor("gateway_request_duration_seconds", "Time from the request head to the end of the response, by route."),
            labels: [("route", label)], buckets: GatewayMetrics.durationBuckets)
    }

    func finished(status: Int, after elapsed: Duration) {
        let code = (100..<600).contains(status) ? status : 599
        let counter = statuses.withLock { counters in
            if let counter = counters[code] { return counter }
            let counter = registry.makeCounter(
                descriptor: GatewayMetrics.descriptor("gateway_requests_total", "Requests answered, by route and status."),
                labels: [("route", label), ("status", String(code))])
            counters[code] = counter
            return counter
        }
        counter.increment()
        duration.record(elapsed)
    }
}

/// `gateway_upstream_requests_total{upstream,outcome}` and `gateway_upstream_duration_seconds{upstream}`.
final class UpstreamMetrics: Sendable {
    private let outcomes: [Counter]
    private let duration: DurationHistogram

    init(name: String, registry: PrometheusCollectorRegistry) {
        outcomes = GatewayMetrics.UpstreamOutcome.allCases.map {
            registry.makeCounter(
                descriptor: GatewayMetrics.descriptor("gateway_upstream_requests_total", "Requests sent upstream, by upstream and outcome."),
                labels: [("upstream", name), ("outcome", $0.name)])
        }
        duration = registry.makeDurationHistogram(
            descriptor: GatewayMetrics.descriptor("gateway_upstream_duration_seconds", "Time from sending a request upstream to its response head, by upstream."),
            labels: [("upstream", name)], buckets: GatewayMetrics.durationBuckets)
    }

    func count(_ outcome: GatewayMetrics.UpstreamOutcome) { outcomes[outcome.rawValue].increment() }

    func responded(after elapsed: Duration) {
        outcomes[GatewayMetrics.UpstreamOutcome.ok.rawValue].increment()
        duration.record(elapsed)
    }
}
