import Logging
import NIOCore
import NIOPosix
import NIOSSL

/// Everything requests read that comes from the config file and the key files, built by one function at start-up
/// and at every reload (docs/operations.md#reload), never changed once built: a reload builds a new one and swaps it in whole.
public final class CompiledGateway: Sendable {
    public let config: GatewayConfig
    public let runtime: GatewayRuntime
    public let endpoints: GatewayEndpoints
    public let issuer: TokenIssuer
    public let verifier: TokenVerifier
    /// The public listener's TLS context (docs/http.md#tls-and-http2), nil on a plaintext listener; new connections take it.
    public let tls: NIOSSLContext?
    /// Lasting (the same list after a reload): a WebSocket tunnel is registered with it, so its session's
    /// revocation closes it (docs/http.md#websocket).
    let revocations: RevocationList

    /// What outlives a reload: the store, the revocations known (their contents), the libcurl transport and the
    /// event loops. The renewal coordinator is rebuilt with the rest: two renewals of one token that straddle a
    /// swap are coalesced by the store's compare-and-set, as renewals on two gateways are (docs/http.md#renewal).
    public struct Lasting: Sendable {
        let store: any SessionStore
        let revocations: RevocationList
        let upstream: CurlUpstreamClient
        let group: MultiThreadedEventLoopGroup
        let clock: WallClock
        let logger: Logger
        /// The counters keep counting across reloads; the access log follows `log.access` (`retarget`).
        let metrics: GatewayMetrics
        let accessLog: AccessLog
    }

    public init(config: GatewayConfig, key: SigningKey, tls: NIOSSLContext?, lasting: Lasting) {
        let store = lasting.store, revocations = lasting.revocations, clock = lasting.clock, logger = lasting.logger
        let upstream = lasting.upstream, group = lasting.group
        let metrics = lasting.metrics
        let runtime = GatewayRuntime(config: config, logger: logger, metrics: metrics)
        let issuer = TokenIssuer(key: key, tokens: config.tokens)
        let verifier = TokenVerifier(key: key, tokens: config.tokens)
        let renewal = RenewalCoordinator(store: store, issuer: issuer, tokens: config.tokens, renewal: config.renewal, logger: logger,
                                         metrics: metrics)
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
        self.config = config
        self.runtime = runtime
        self.issuer = issuer
        self.verifier = verifier
        self.tls = tls
        self.revocations = revocations
        self.endpoints = GatewayEndpoints(
            authenticator: authenticator, tokens: tokenEndpoints, auth: config.auth, jwks: key.jwks,
            readiness: { try await store.ping() }
        )
    }
}
