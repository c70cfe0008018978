import Logging
import NIOCore
import NIOHTTP1

/// A WebSocket tunnel's client connection after the upstream's 101 (docs/http.md#websocket): raw bytes both ways between the
/// client's channel and the upstream exchange (libcurl's connect-only mode, CurlLoop+Tunnels.swift). It takes the
/// connection over from `ProxyHandler`, in the place of NIO's HTTP/1 handlers; the rules live in
/// `TunnelStateMachine`. The request's access-log line and metrics are written when the tunnel ends (status 101,
/// the tunnel's bytes as its body bytes).
final class TunnelHandler<Exchange: UpstreamExchange>: ChannelDuplexHandler, UpstreamResponseSink {
    typealias InboundIn = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private var machine: TunnelStateMachine
    private var exchange: Exchange?
    private var record: RequestRecord?
    private let accessLog: AccessLog
    private let logger: Logger
    private let clientAddress: String?
    private let revocations: RevocationList
    private var registration: OpenTunnels.Registration?
    /// What came with the 101 (tunnel bytes, perhaps the upstream's end), handed on once in the pipeline.
    private var arrived: UpstreamDelivery?
    private let quiescing: Bool
    /// Until the handler leaves the pipeline (then the context would keep the handler alive, and it the context).
    private var context: ChannelHandlerContext?
    private var eventLoop: (any EventLoop)!
    private var timer: Scheduled<Void>?
    /// The listener's count of live connection handlers (a tunnel's handler is one).
    private let census: Census

    init(exchange: Exchange, record: RequestRecord?, accessLog: AccessLog, logger: Logger, clientAddress: String?,
         settings: TunnelStateMachine.Settings, revocations: RevocationList, arrived: UpstreamDelivery, quiescing: Bool,
         census: Census) {
        self.machine = TunnelStateMachine(settings: settings)
        self.census = census
        census.arrived()
        self.exchange = exchange
        self.record = record
        self.accessLog = accessLog
        self.logger = logger
        self.clientAddress = clientAddress
        self.revocations = revocations
        self.arrived = UpstreamDelivery(head: nil, body: arrived.body, end: arrived.end)
        self.quiescing = quiescing
    }

    deinit {
        census.departed()
    }

    // MARK: taking the connection over

    /// NIO's HTTP/1 handlers, which a tunnel replaces: the response encoder and the request decoder.
    private typealias RequestDecoder = ByteToMessageHandler<HTTPRequestDecoder>

    /// Whether the connection has NIO's HTTP/1 handlers to step aside (an HTTP/2 stream's pipeline has other ones).
    static func canReplaceHTTP1(in context: ChannelHandlerContext) -> Bool {
        let pipeline = context.pipeline.syncOperations
        return (try? pipeline.handler(type: RequestDecoder.self)) != nil && (try? pipeline.handler(type: HTTPResponseEncoder.self)) != nil
    }

    /// Takes the place of NIO's HTTP/1 handlers and of `handler` (the 101 has gone through the encoder already).
    /// The decoder stopped parsing at the upgrade request; it leaves on the next tick (ByteToMessageHandler's
    /// removal), and reading resumes only then, so no byte of the tunnel lands in it.
    func replaceHTTP1(and handler: ChannelHandlerContext) throws {
        let pipeline = handler.pipeline.syncOperations
        let decoder = try pipeline.handler(type: RequestDecoder.self)
        let encoder = try pipeline.handler(type: HTTPResponseEncoder.self)
        try pipeline.addHandler(self, position: .after(handler.handler))
        pipeline.removeHandler(encoder, promise: nil)
        pipeline.removeHandler(decoder).assumeIsolated().whenComplete { [self] _ in
            run(machine.codecRemoved())
        }
        pipeline.removeHandler(context: handler, promise: nil)
        start()
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        self.eventLoop = context.eventLoop
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        timer?.cancel()
        timer = nil
        self.context = nil
    }

    /// In place: the exchange's events come here, the tunnel is registered under its session, and what came with
    /// the 101 goes on (an action here may close the connection: the handlers it replaces are gone by now).
    private func start() {
        exchange?.handOver(to: self)
        let sessionID = record?.sessionID
        let bound = NIOLoopBound(self, eventLoop: eventLoop)
        registration = revocations.tunnels.opened(session: sessionID) { [eventLoop] in
            eventLoop.execute { bound.value.revoked() }
        }
        // A revocation that came before the registration is in the list (one after it finds the registration).
        if let sessionID, revocations.contains(sessionID) { return run(machine.revoked()) }
        if quiescing { run(machine.quiesce(now: .now())) }
        if let arrived {
            self.arrived = nil
            upstreamDelivered(arrived)
        }
    }

    // MARK: channel events

    func read(context: ChannelHandlerContext) {
        run(machine.readRequested())
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let bytes = unwrapInboundIn(data)
        record?.bytesReceived += bytes.readableBytes
        if let exchange, !exchange.sendBody(bytes) { machine.upstreamBufferFull() }
    }

    func channelInactive(context: ChannelHandlerContext) {
        run(machine.channelInactive())
        context.fireChannelInactive()
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        run(machine.writabilityChanged(isWritable: context.channel.isWritable, now: .now()))
        context.fireChannelWritabilityChanged()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is ChannelShouldQuiesceEvent {
            return run(machine.quiesce(now: .now()))
        }
        if let event = event as? ChannelEvent, event == .inputClosed {
            return run(machine.clientInputClosed())
        }
        context.fireUserInboundEventTriggered(event)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        run(machine.connectionFailed())
    }

    private func revoked() {
        run(machine.revoked())
    }

    // MARK: UpstreamResponseSink

    func upstreamDelivered(_ delivery: UpstreamDelivery) {
        if let body = delivery.body {
            write(body)
            context?.flush()
        }
        switch delivery.end {
        case nil: break
        case .success?: run(machine.upstreamEnded(success: true))
        case .failure?: run(machine.upstreamEnded(success: false))
        }
    }

    func upstreamWantsMoreRequestBody() {
        run(machine.upstreamWantsMore())
    }

    /// Flow control: the transport holds back once too many bytes are unwritten.
    private func write(_ bytes: ByteBuffer) {
        let count = bytes.readableBytes
        record?.bytesSent += count
        let promise = eventLoop.makePromise(of: Void.self)
        promise.futureResult.assumeIsolated().whenSuccess { [self] in
            exchange?.responseBodyWritten(count)
            machine.bytesWritten(now: .now())
        }
        context?.write(wrapOutboundOut(bytes), promise: promise)
    }

    // MARK: running actions

    private func run(_ action: TunnelStateMachine.Action) {
        switch action {
        case .none:
            break
        case .read:
            context?.read()
        case .scheduleTimer(let deadline):
            timer?.cancel()
            timer = eventLoop.assumeIsolated().scheduleTask(deadline: deadline) { [self] in
                timer = nil
                run(machine.timerFired(now: .now()))
            }
        case .finishUpstream:
            exchange?.finishBody()
        case .flushThenClose:
            guard let context else { return run(machine.flushed()) }
            context.writeAndFlush(wrapOutboundOut(context.channel.allocator.buffer(capacity: 0))).assumeIsolated()
                .whenComplete { [self] _ in run(machine.flushed()) }
        case .close(let reason, let cancelUpstream):
            log(reason)
            end(cancelUpstream: cancelUpstream)
            context?.close(promise: nil)
        case .stop(let cancelUpstream):
            end(cancelUpstream: cancelUpstream)
        }
    }

    /// The tunnel is over: the upstream connection closed (when it is still open), the registration and the
    /// request's record done with.
    private func end(cancelUpstream: Bool) {
        timer?.cancel()
        timer = nil
        if cancelUpstream { exchange?.cancel() }
        exchange = nil
        if let registration {
            self.registration = nil
            revocations.tunnels.closed(registration)
        }
        if let record {
            self.record = nil
            record.finish(remoteAddress: clientAddress, accessLog: accessLog)
        }
    }

    private func log(_ reason: TunnelStateMachine.CloseReason) {
        switch reason {
        case .revoked:
            logger.info("session revoked: closing its WebSocket tunnel", metadata: ["sid": "\(record?.sessionID ?? "")"])
        case .sendTimeout:
            logger.info("client stopped reading its WebSocket tunnel: closing")
        case .shutdown:
            logger.info("shutdown_timeout reached: closing a WebSocket tunnel")
        case .upstreamBrokeOff:
            logger.info("upstream broke off a WebSocket tunnel")
        case .upstreamClosed, .clientGone:
            break
        }
    }
}
