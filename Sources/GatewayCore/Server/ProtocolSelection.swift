import NIOCore
import NIOTLS

/// The first handler of a connection that may speak HTTP/2: it waits for what decides the protocol (ALPN at the
/// end of the TLS handshake, or the first bytes on a plaintext listener, docs/http.md#tls-and-http2), then builds the HTTP/1.1 or
/// HTTP/2 pipeline behind itself and leaves. Until then it bounds the wait by `idle_timeout` and closes at once
/// when the gateway shuts down: a connection that never says anything holds nothing.
final class ProtocolSelection<Upstream: UpstreamClient>: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    enum Decider {
        /// TLS: the protocol ALPN negotiated (`h2`, else HTTP/1.1).
        case alpn
        /// Plaintext: the HTTP/2 connection preface, else HTTP/1.1.
        case preface
    }

    private let decider: Decider
    private let pipeline: ConnectionPipeline<Upstream>
    private let secure: Bool
    private let timeout: TimeAmount
    private var deadline: Scheduled<Void>?
    /// Plaintext bytes read before the verdict (at most the preface's 24 bytes can be undecided).
    private var received: ByteBuffer?
    private var decided = false

    init(_ decider: Decider, pipeline: ConnectionPipeline<Upstream>, secure: Bool, timeout: TimeAmount) {
        self.decider = decider
        self.pipeline = pipeline
        self.secure = secure
        self.timeout = timeout
    }

    func handlerAdded(context: ChannelHandlerContext) {
        let channel = context.channel
        deadline = context.eventLoop.scheduleTask(in: timeout) { channel.close(promise: nil) }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        deadline?.cancel()
    }

    func channelInactive(context: ChannelHandlerContext) {
        deadline?.cancel()
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !decided else { return context.fireChannelRead(data) }
        var bytes = unwrapInboundIn(data)
        guard decider == .preface else {
            // ALPN has not spoken yet: TLS hands nothing up before its handshake, so this does not happen.
            return context.close(promise: nil)
        }
        if var buffered = received {
            buffered.writeBuffer(&bytes)
            bytes = buffered
        }
        switch HTTP2Preface.classify(bytes.readableBytesView) {
        case .undecided:
            received = bytes
        case .http2:
            select(http2: true, context: context, replaying: bytes)
        case .http1:
            select(http2: false, context: context, replaying: bytes)
        }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if decider == .alpn, !decided, let tls = event as? TLSUserEvent,
           case .handshakeCompleted(let negotiated) = tls {
            return select(http2: negotiated == "h2", context: context, replaying: nil)
        }
        if !decided, event is ChannelShouldQuiesceEvent || (event as? ChannelEvent) == .inputClosed {
            return context.close(promise: nil)
        }
        context.fireUserInboundEventTriggered(event)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        // A failed handshake or a reset before the protocol is known: nothing to answer.
        guard decided else { return context.close(promise: nil) }
        context.fireErrorCaught(error)
    }

    private func select(http2: Bool, context: ChannelHandlerContext, replaying bytes: ByteBuffer?) {
        decided = true
        deadline?.cancel()
        received = nil
        do {
            if http2 {
                try pipeline.configureHTTP2(context.channel, secure: secure)
            } else {
                try pipeline.configureHTTP1(context.pipeline.syncOperations, secure: secure)
            }
        } catch {
            return context.close(promise: nil)
        }
        if let bytes { context.fireChannelRead(wrapInboundOut(bytes)) }
        context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
    }
}
