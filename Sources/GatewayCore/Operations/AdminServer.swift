import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import NIOPosix

/// The operators' listener (docs/operations.md#metrics): `GET /metrics` (Prometheus text format), `/healthz`, `/readyz`. A small
/// server of its own, never the public one, so a scrape never competes with the public listener's connection
/// limit and nothing here is reachable through the public port.
public final class AdminServer: Sendable {
    private let metrics: GatewayMetrics
    private let readiness: @Sendable () async throws -> Void
    private let group: any EventLoopGroup
    private let channel = NIOLockedValueBox<(any Channel)?>(nil)

    init(metrics: GatewayMetrics, readiness: @escaping @Sendable () async throws -> Void, group: any EventLoopGroup) {
        self.metrics = metrics
        self.readiness = readiness
        self.group = group
    }

    /// Binds `address`; returns the bound address (port 0 becomes the real port).
    @discardableResult
    public func start(_ address: ListenAddress) async throws -> SocketAddress {
        let metrics = self.metrics, readiness = self.readiness
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 64)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline()
                    try channel.pipeline.syncOperations.addHandler(AdminHandler(metrics: metrics, readiness: readiness))
                }
            }
        let bound: any Channel
        do {
            bound = try await bootstrap.bind(host: address.host, port: address.port).get()
        } catch {
            throw BindError(address: address, setting: "admin.listen", error: error)
        }
        channel.withLockedValue { $0 = bound }
        return bound.localAddress!
    }

    public func stop() async {
        let bound = channel.withLockedValue { channel in
            defer { channel = nil }
            return channel
        }
        try? await bound?.close()
    }
}

/// One admin connection: each request answered on its own (the scrape path is not the hot path).
final class AdminHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let metrics: GatewayMetrics
    private let readiness: @Sendable () async throws -> Void
    private var head: HTTPRequestHead?

    init(metrics: GatewayMetrics, readiness: @escaping @Sendable () async throws -> Void) {
        self.metrics = metrics
        self.readiness = readiness
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head): self.head = head
        case .body: break
        case .end:
            guard let head else { return }
            self.head = nil
            answer(head, context: context)
        }
    }

    private func answer(_ head: HTTPRequestHead, context: ChannelHandlerContext) {
        guard head.method == .GET || head.method == .HEAD else { return write(.methodNotAllowed, head: head, context: context) }
        switch RequestRecord.path(of: head.uri) {
        case "/metrics":
            let page = LocalResponse(status: .ok, body: ByteBuffer(bytes: metrics.page()),
                                     headers: ["content-type": "text/plain; version=0.0.4; charset=utf-8"])
            write(page, head: head, context: context)
        case "/healthz":
            write(GatewayEndpoints.healthy, head: head, context: context)
        case "/readyz":
            let promise = context.eventLoop.makePromise(of: LocalResponse.self)
            promise.completeWithTask { [readiness] in await GatewayEndpoints.readiness(readiness) }
            promise.futureResult.assumeIsolated().whenSuccess { [self] in write($0, head: head, context: context) }
        default:
            write(.notFound, head: head, context: context)
        }
    }

    private func write(_ error: GatewayError, head: HTTPRequestHead, context: ChannelHandlerContext) {
        write(LocalResponse(status: error.status, json: error.body(language: .english, method: head.method.rawValue)),
              head: head, context: context)
    }

    private func write(_ response: LocalResponse, head: HTTPRequestHead, context: ChannelHandlerContext) {
        var headers = response.headers
        if !headers.contains(name: "content-type") { headers.add(name: "content-type", value: "application/json") }
        headers.replaceOrAdd(name: "content-length", value: String(response.body.readableBytes))
        if !head.isKeepAlive { headers.add(name: "connection", value: "close") }
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: head.version, status: response.status, headers: headers))), promise: nil)
        if head.method != .HEAD {
            context.write(wrapOutboundOut(.body(.byteBuffer(response.body))), promise: nil)
        }
        let keepAlive = head.isKeepAlive
        context.writeAndFlush(wrapOutboundOut(.end(nil))).assumeIsolated().whenComplete { _ in
            if !keepAlive { context.close(promise: nil) }
        }
    }
}
