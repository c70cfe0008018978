import NIOCore
import NIOHTTP1

/// A request to send upstream, with everything the transport needs already computed on the event loop.
public struct UpstreamRequest: Sendable {
    public var method: String
    /// Full URLs in the order to try: the round-robin pick first, then the other targets (failover on connect failure).
    public var urls: [String]
    /// Header lines as sent (`Name: value`), hop-by-hop headers already removed.
    public var headerLines: HeaderLines
    public var body: UpstreamRequestBody
    public var connectTimeout: Duration
    /// The protocol to switch to (the client's `Upgrade`, docs/http.md#websocket): the exchange is then a tunnel. Its request
    /// body is what the client sends after the upstream's 101, its response body what the upstream sends after
    /// it; a response other than 101 is an ordinary one.
    public var upgrade: String?

    public init(method: String, urls: [String], headerLines: HeaderLines, body: UpstreamRequestBody, connectTimeout: Duration,
                upgrade: String? = nil) {
        self.method = method
        self.urls = urls
        self.headerLines = headerLines
        self.body = body
        self.connectTimeout = connectTimeout
        self.upgrade = upgrade
    }
}

public enum UpstreamRequestBody: Sendable, Equatable {
    /// No body is sent.
    case none
    /// A body of known length, streamed through `UpstreamExchange.sendBody`.
    case length(Int64)
    /// A body of unknown length (sent chunked), streamed through `UpstreamExchange.sendBody`.
    case streamed
}

public struct UpstreamResponseHead: Sendable {
    public var status: HTTPResponseStatus
    /// End-to-end headers only: hop-by-hop headers are already dropped.
    public var headers: HTTPHeaders
}

/// Why an exchange ended without a complete response.
public enum UpstreamFailure: Error, Sendable, Equatable {
    /// No target could be reached (connect refused, timed out, DNS, TLS): 502.
    case unavailable(String)
    /// The upstream broke off after the response head was delivered: the client connection must be closed.
    case brokenAfterHead(String)
}

/// Receives an exchange's events, always on the event loop the exchange was started for.
public protocol UpstreamResponseSink: AnyObject {
    func upstreamDelivered(_ delivery: UpstreamDelivery)
    /// The request body buffer drained: reading from the client may resume.
    func upstreamWantsMoreRequestBody()
}

/// What arrived from upstream since the last delivery, batched so a small response costs one hop.
public struct UpstreamDelivery: Sendable {
    public var head: UpstreamResponseHead?
    public var body: ByteBuffer?
    /// Set when the exchange is over: nil result = success.
    public var end: Result<Void, UpstreamFailure>?
}

/// One request/response in flight. Methods are called on the event loop that started it.
public protocol UpstreamExchange: AnyObject, Sendable {
    /// Queues request body bytes; returns false when the buffer is full and reading from the client should pause
    /// until `upstreamWantsMoreRequestBody`.
    func sendBody(_ buffer: ByteBuffer) -> Bool
    /// The request body is complete.
    func finishBody()
    /// The client wrote `count` response body bytes out (frees response buffer space).
    func responseBodyWritten(_ count: Int)
    /// Abandons the exchange (client gone, or the response timeout fired). No event is delivered afterwards.
    func cancel()
    /// From now on events go to `sink` (a tunnel's connection changed hands at the upstream's 101).
    func handOver(to sink: any UpstreamResponseSink)
}

/// Sends requests upstream. Generic over this on the hot path (STYLE habit 4).
public protocol UpstreamClient: Sendable {
    associatedtype Exchange: UpstreamExchange
    /// Starts `request`; events reach `sink` on `eventLoop`.
    func start(_ request: UpstreamRequest, on eventLoop: any EventLoop, sink: any UpstreamResponseSink) -> Exchange
    func shutdown()
}
