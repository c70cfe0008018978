import NIOCore
import NIOHTTP1
import NIOHTTP2
import NIOSSL

/// How a client connection's pipeline is built: TLS when configured, then HTTP/1.1 or HTTP/2 (docs/http.md#tls-and-http2).
/// Each HTTP/2 stream gets the same `ProxyHandler` an HTTP/1.1 connection has, behind NIO's HTTP/2-to-HTTP/1
/// codec, so every rule of route auth, renewal and forwarding holds per stream. Built per connection from the
/// gateway compiled at accept time: a reload's TLS files and settings apply to new connections.
struct ConnectionPipeline<Upstream: UpstreamClient>: Sendable {
    let active: ActiveGateway
    let upstream: Upstream
    let accessLog: AccessLog
    let handlers: Census

    /// Concurrent streams per HTTP/2 connection, advertised in SETTINGS (docs/http.md#tls-and-http2).
    static var maxConcurrentStreams: Int { 100 }

    /// The HPACK decoder's own bound on a decoded header list, advertised as SETTINGS_MAX_HEADER_LIST_SIZE. It sits
    /// above `max_header_bytes` so that a list over that limit still decodes and is refused on its stream with 431
    /// by the same check HTTP/1.1 heads get; a list over this bound is a connection error (NIO's HPACK decoder).
    static func headerListBound(maxHeaderBytes: Int) -> Int {
        max(64 * 1024, 2 * maxHeaderBytes)
    }

    /// Sets up a connection just accepted.
    func configure(_ channel: any Channel) throws {
        let compiled = active.current
        let server = compiled.config.server
        let sync = channel.pipeline.syncOperations
        let timeout = TimeAmount(server.idleTimeout)
        if let tls = compiled.tls {
            try sync.addHandler(NIOSSLServerHandler(context: tls))
            if server.http2 {
                // ALPN decides, once the handshake is done.
                try sync.addHandler(ProtocolSelection(.alpn, pipeline: self, secure: true, timeout: timeout))
            } else {
                try configureHTTP1(sync, secure: true)
            }
        } else if server.http2 {
            try sync.addHandler(ProtocolSelection(.preface, pipeline: self, secure: false, timeout: timeout))
        } else {
            try configureHTTP1(sync, secure: false)
        }
    }

    func configureHTTP1(_ sync: ChannelPipeline.SynchronousOperations, secure: Bool) throws {
        // Pipelining is handled by ProxyHandler (it keeps reading instead of toggling read interest per request);
        // response heads are built from parsed, well-formed header lines.
        try sync.configureHTTPServerPipeline(withPipeliningAssistance: false, withErrorHandling: false,
                                             withOutboundHeaderValidation: false)
        try sync.addHandler(ProxyHandler(active: active, upstream: upstream, accessLog: accessLog, secure: secure, census: handlers))
    }

    func configureHTTP2(_ channel: any Channel, secure: Bool) throws {
        let server = active.current.config.server
        var connection = NIOHTTP2Handler.ConnectionConfiguration()
        connection.initialSettings = [
            HTTP2Setting(parameter: .maxConcurrentStreams, value: Self.maxConcurrentStreams),
            HTTP2Setting(parameter: .maxHeaderListSize, value: Self.headerListBound(maxHeaderBytes: server.maxHeaderBytes)),
        ]
        // A connection without streams for idle_timeout is closed with GOAWAY; SIGTERM (ChannelShouldQuiesceEvent)
        // sends GOAWAY and lets the open streams finish, for shutdown_timeout at most.
        let management = NIOHTTP2ServerConnectionManagementHandler(
            eventLoop: channel.eventLoop,
            configuration: .init(maxIdleTime: TimeAmount(server.idleTimeout), maxAge: nil,
                                 maxGraceTime: TimeAmount(server.shutdownTimeout), keepalive: nil)
        )
        let active = self.active, upstream = self.upstream, accessLog = self.accessLog, handlers = self.handlers
        let http2 = NIOHTTP2Handler(mode: .server, eventLoop: channel.eventLoop, connectionConfiguration: connection,
                                    streamConfiguration: .init(), streamDelegate: management.http2StreamDelegate) { stream in
            stream.eventLoop.makeCompletedFuture {
                let sync = stream.pipeline.syncOperations
                try sync.addHandler(HTTP2FramePayloadToHTTP1ServerCodec())
                try sync.addHandler(ProxyHandler(active: active, upstream: upstream, accessLog: accessLog, secure: secure, census: handlers))
            }
        }
        let sync = channel.pipeline.syncOperations
        try sync.addHandler(HTTP2InputClosure())
        try sync.addHandler(http2)
        try sync.addHandler(management)
    }
}

/// A client that closes its side of an HTTP/2 connection (the listener allows half-closure for HTTP/1.1's sake)
/// will send nothing more: the connection is quiesced as at shutdown — GOAWAY, the open streams finish, then it
/// closes — instead of staying open until `idle_timeout`.
final class HTTP2InputClosure: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let event = event as? ChannelEvent, event == .inputClosed {
            return context.fireUserInboundEventTriggered(ChannelShouldQuiesceEvent())
        }
        context.fireUserInboundEventTriggered(event)
    }
}
