import Synchronization
import NIOCore

/// Bounds the open client connections (`server.max_connections`). It sits on the listening channel: at the
/// limit it stops asking to accept, so new connections wait in the kernel's backlog instead of taking a
/// descriptor each, and it asks again when one closes. The listener accepts one connection per read, so the
/// count never overshoots the limit.
final class ConnectionLimiter: ChannelDuplexHandler {
    typealias InboundIn = any Channel
    typealias InboundOut = any Channel
    typealias OutboundIn = Never

    private let limit: Int
    private let gauge: OpenConnections
    private var open = 0
    private var readWanted = false
    private var context: ChannelHandlerContext?

    init(limit: Int, gauge: OpenConnections) {
        self.limit = max(1, limit)
        self.gauge = gauge
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let child = unwrapInboundIn(data)
        open += 1
        gauge.opened()
        child.closeFuture.hop(to: context.eventLoop).assumeIsolated().whenComplete { [self] _ in
            connectionClosed()
        }
        context.fireChannelRead(data)
    }

    func read(context: ChannelHandlerContext) {
        if open >= limit {
            readWanted = true
        } else {
            context.read()
        }
    }

    private func connectionClosed() {
        open -= 1
        gauge.closed()
        guard readWanted, open < limit, let context else { return }
        readWanted = false
        context.read()
    }
}

/// The number of open client connections, readable from any thread (for tests, health and metrics).
public final class OpenConnections: Sendable {
    private let count = Atomic<Int>(0)

    public var current: Int { count.load(ordering: .relaxed) }
    func opened() { count.add(1, ordering: .relaxed) }
    func closed() { count.subtract(1, ordering: .relaxed) }
}
